package tensor

import "syscall"

// osYield gives the thread's core to any other runnable thread of the
// machine (sched_yield).
func osYield() { syscall.Syscall(syscall.SYS_SCHED_YIELD, 0, 0, 0) }
