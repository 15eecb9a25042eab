// Package faulttest proves todod's reliability claims against the real
// program: its tests build the todod binary, run it as a process on
// 127.0.0.1, and inject faults around it (a private PostgreSQL cluster
// restarted or killed under load, todod itself killed with SIGKILL or
// stopped with SIGTERM, locks that make every statement wait, hostile
// clients). A journaled client records every acknowledged write and checks
// afterwards that none was lost. RELIABILITY.md at the repository root lists
// each fault, the behaviour expected, and the test that shows it.
package faulttest
