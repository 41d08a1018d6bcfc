// nbdkit-hvdisk-plugin.so: serves a disk to any NBD client through nbdkit (nbdkit-plugin(3),
// API version 2, the parallel thread model), over nbd::Export (export.h):
//
//   nbdkit [-U SOCKET | -p PORT] .../nbdkit-hvdisk-plugin.so file=DISK [readonly=1]
//          [allow-root=DIR]...
//   nbdkit ... nbdkit-hvdisk-plugin.so store=STORE vm=VM [readonly=1] [uri=URI]
//
// file=DISK (the default key: `nbdkit hvdisk DISK` works) serves a raw file, a VHDX or a whole
// differencing chain (writes go to the leaf); allow-root=DIR lets a parent resolve into DIR's
// tree besides the leaf's (repeatable). store=/vm= serves what a replica-store VM runs on (its
// failover disk, a test VM's disk), marked served for as long as the server lives (ops/vm_served.h:
// the VM's locks, held by the serving process, and a record of uri=, its pid and host).
//
// Lifecycle: .config makes paths absolute (nbdkit chdirs to / when it forks into the
// background); .get_ready opens the disk and takes the locks, before the fork, so that a refusal
// (a VM in use, in the wrong state, a missing parent) is nbdkit's exit status; .after_fork
// starts the I/O queues and publishes the served record with the server's own pid; .unload
// flushes and closes the disk, then releases the VM. Every connection shares the one disk.
//
// Callbacks: size, pread, pwrite, flush, FUA (native), trim, zero (as VHDX ZERO blocks),
// extents (base:allocation, whole runs) and multi-conn; errors carry an errno (kNoSpace: ENOSPC,
// ...) and a message to nbdkit's log.
#pragma once

struct nbdkit_plugin;

// The plugin's entry point, called by nbdkit once after dlopen.
extern "C" struct nbdkit_plugin* plugin_init(void);
