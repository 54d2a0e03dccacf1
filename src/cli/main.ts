/**
 * The `ringshard` command: `ringshard bench ...` (load test), `ringshard demo` (the main
 * job: a short verified run with metrics), `ringshard --version`.
 */
import { OptionError } from './bench-options.ts';
import { benchCommand } from './bench-command.ts';
import { demoCommand } from './demo.ts';
import { packageVersion } from '../package-version.ts';

const USAGE = `Usage: ringshard <command> [options]

Commands:
  bench     drive a cluster of built-in kernels and report throughput and latency
  demo      a short mixed load over thousands of actors, every reply checked
Options:
  -v, --version   print the version
  -h, --help      this text

Run 'ringshard <command> --help' for a command's options.
`;

export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'bench':
        return await benchCommand(rest);
      case 'demo':
        return await demoCommand(rest);
      case '-v':
      case '--version':
        process.stdout.write(`${packageVersion()}\n`);
        return 0;
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        process.stdout.write(USAGE);
        return command === undefined ? 2 : 0;
      default:
        process.stderr.write(`ringshard: unknown command '${command}'\n\n${USAGE}`);
        return 2;
    }
  } catch (error) {
    if (error instanceof OptionError) {
      process.stderr.write(`ringshard ${command}: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
}
