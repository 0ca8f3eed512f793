// Runs a libFuzzer target without libFuzzer (gcc builds, ASan builds): replays every file
// given on the command line (or in a given directory), then runs --random N inputs of random
// bytes drawn from a fixed seed, so the regular test suite exercises every fuzz target.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "engine/prng.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

void RunFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t random_inputs = 0;
  uint64_t seed = 1;
  size_t files = 0;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--random") == 0 && i + 1 < argc) {
      random_inputs = std::strtoull(argv[++i], nullptr, 10);
    } else if (std::strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
      seed = std::strtoull(argv[++i], nullptr, 10);
    } else if (std::filesystem::is_directory(argv[i])) {
      for (const auto& entry : std::filesystem::directory_iterator(argv[i])) {
        RunFile(entry.path());
        ++files;
      }
    } else {
      RunFile(argv[i]);
      ++files;
    }
  }
  keel::Prng prng(seed);
  std::vector<uint8_t> buffer;
  for (uint64_t n = 0; n < random_inputs; ++n) {
    buffer.resize(prng.Uniform(2048));
    for (uint8_t& byte : buffer) byte = static_cast<uint8_t>(prng.Next());
    LLVMFuzzerTestOneInput(buffer.data(), buffer.size());
  }
  std::printf("ran %zu files and %llu random inputs\n", files,
              static_cast<unsigned long long>(random_inputs));
  return 0;
}
