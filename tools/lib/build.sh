# Sourced by tools/test and tools/demo: both configure build/ the same way, so running one after
# the other does not rebuild everything.
#
# keel_configure_build: configures build/ (Ninja, RelWithDebInfo). -g1 (line tables: backtraces
# and perf still work) instead of -g, because full debug info costs ~26% of compile time on the
# template-heavy tests (39 s vs 29 s for one checker test file, measured on this machine).
keel_configure_build() {
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" \
    -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" >/dev/null
}
