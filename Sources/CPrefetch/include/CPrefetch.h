#ifndef CPREFETCH_H
#define CPREFETCH_H

/// Asks the CPU to start loading the cache line holding `address` for reading; never faults.
/// Swift has no prefetch of its own: a B+-tree descent uses this to fetch a node's search keys
/// in parallel rather than one dependent miss at a time.
static inline __attribute__((always_inline)) void cprefetch_read(const void *address) {
    __builtin_prefetch(address, 0, 3);
}

/// The same for a line about to be written (a reference count about to change).
static inline __attribute__((always_inline)) void cprefetch_write(const void *address) {
    __builtin_prefetch(address, 1, 3);
}

#endif
