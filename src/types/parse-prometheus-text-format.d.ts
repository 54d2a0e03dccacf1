// parse-prometheus-text-format ships no types; the tests use it only to validate syntax.
declare module 'parse-prometheus-text-format' {
  export default function parsePrometheusTextFormat(text: string): unknown[];
}
