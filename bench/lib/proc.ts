/** What /proc says about the processes under test (Linux): CPU time used and peak memory. */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpuTicksFromStat, memoryFromStatus } from './stats.js';

/** USER_HZ: /proc/<pid>/stat counts CPU time in these ticks (100 on every Linux this runs on). */
const TICKS_PER_SECOND = 100;

/** CPU milliseconds the processes have used so far (all threads; 10 ms resolution). */
export function cpuMs(pids: readonly number[]): number {
  return pids.reduce((ms, pid) => ms + (cpuTicksFromStat(readFileSync(`/proc/${pid}/stat`, 'utf8')) * 1000) / TICKS_PER_SECOND, 0);
}

/**
 * CPU milliseconds with nanosecond resolution: the sum over the process's threads of the first
 * field of /proc/<pid>/task/<tid>/schedstat (time on a CPU). Threads that exit are lost from the
 * sum, so this is for short windows over long-lived threads (the OPA server's).
 */
export function preciseCpuMs(pid: number): number {
  let ns = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // the thread exited between the listing and the read
    }
  }
  return ns / 1e6;
}

/** Resets the peak-RSS mark (VmHWM) of each process, so the next reading is the peak from now on. */
export function resetPeakRss(pids: readonly number[]): void {
  for (const pid of pids) writeFileSync(`/proc/${pid}/clear_refs`, '5');
}

/** Peak RSS since the last reset, summed over the processes, MB. */
export function peakRssMb(pids: readonly number[]): number {
  return pids.reduce((mb, pid) => mb + memoryFromStatus(readFileSync(`/proc/${pid}/status`, 'utf8')).hwmKb / 1024, 0);
}

export function rssMb(pids: readonly number[]): number {
  return pids.reduce((mb, pid) => mb + memoryFromStatus(readFileSync(`/proc/${pid}/status`, 'utf8')).rssKb / 1024, 0);
}
