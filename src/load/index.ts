/**
 * `ringshard/load`: load tests of any kernel on a started cluster (loadTest), the
 * thresholds that pass or fail them, and the HTML report of a result.
 */
export { loadTest, LoadRng, type LoadMode, type LoadProgress, type LoadTestOptions, type LoadTestResult, type LatencyStats, type SecondStats } from './load-test.ts';
export { ArrivalSchedule, type Stage } from './schedule.ts';
export { parseThreshold, type Threshold, type ThresholdResult } from './thresholds.ts';
export { htmlReport } from './html-report.ts';
