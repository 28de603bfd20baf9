// jemalloc's options for ecomd, read once before main (linked only when ecomd uses jemalloc).
//
// thp:always asks for transparent huge pages on jemalloc's extents (the machine's THP mode is
// "madvise", so nothing happens without it): the engine's state grows by a wallet entry, a
// history line and index nodes per issued coupon, and first touches of fresh 4 KiB pages were
// about 5 % of ecomd's samples under the first-come issue load (page faults); with 2 MiB pages
// that fell away, measured 1-6 % more issues per second in A/B runs (docs/performance.md).
// MALLOC_CONF in the environment still overrides these.
extern "C" {
// NOLINTNEXTLINE(readability-identifier-naming): the name jemalloc looks for.
const char* malloc_conf = "thp:always,metadata_thp:auto";
}
