# Sourced by tools/test and tools/demo: installs the Debian 12 packages keel needs, and only
# those that are missing, so a fully provisioned machine never touches the network.
KEEL_PACKAGES=(
  g++ cmake ninja-build pkg-config
  clang libclang-rt-14-dev
  libboost-context-dev
  libprotobuf-dev protobuf-compiler
  libabsl-dev
  libgtest-dev libgmock-dev librapidcheck-dev libbenchmark-dev
  libzmq3-dev cppzmq-dev libcli11-dev libspdlog-dev libcpp-httplib-dev
  python3 python3-zmq python3-protobuf
  iproute2 iptables
)

keel_install_deps() {
  local missing=()
  local pkg
  for pkg in "${KEEL_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$pkg")
    fi
  done
  if [ ${#missing[@]} -eq 0 ]; then
    return 0
  fi
  echo "keel: installing missing packages: ${missing[*]}"
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
      sudo=(sudo)
    else
      echo "keel: need root (or sudo) to install: ${missing[*]}" >&2
      return 1
    fi
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -q
  "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
}
