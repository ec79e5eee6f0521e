# Sourced by scripts/setup and scripts/test: installs, with apt, whatever of the project's
# Debian packages is missing. Swift itself (6.x, at /opt/swift or on PATH) must be present.
deps_install() {
    # Building: libarchive, libyaml (and for the static release zlib and libacl); testing: MariaDB,
    # dash and bash, busybox (a shell in an empty chroot), strace, python3-seccomp (Linux 3.10 as
    # CentOS 7 has it), file and man-db (to check the release), passwd (a second user), and the
    # readers a packed package must satisfy besides GNU tar and busybox: bsdtar (libarchive-tools);
    # pigz for the benchmark; lsof, with which FATE's own fate_flow/service.sh finds fate_flow;
    # python3-pymysql, with which the stand-in fate_flow logs in to its database as FATE's does.
    # python3-jsonschema checks every command's --json against docs/json-schema.json; faketime
    # (libfaketime) gives a run a wall clock that stands still or was set back.
    # ZooKeeper: libzookeeper-mt-dev, the C client verify asks whether fate_flow
    # is registered with (its static archive goes into the release); zookeeper, the real server the tests
    # start (Java, with slf4j-simple for its log); python3-kazoo, the client fate_flow itself registers
    # with, which the tests use to create nodes exactly as fate_flow does.
    local packages=(libarchive-dev libyaml-dev zlib1g-dev libacl1-dev pkg-config python3 python3-yaml python3-jsonschema python3-seccomp
                    libzookeeper-mt-dev zookeeper python3-kazoo
                    dash bash tar gzip util-linux bsdutils coreutils passwd mariadb-server mariadb-client
                    busybox-static strace faketime file man-db pigz libarchive-tools openssh-server python3-venv lsof python3-pymysql "$@")
    local missing=()
    for package in "${packages[@]}"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "installing: ${missing[*]}" >&2
        local sudo=""
        [ "$(id -u)" -eq 0 ] || sudo=sudo
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
    fi
    # The tests load YAML with PyYAML, as FATE does; a python3 from elsewhere (pyenv) may lack it.
    python3 -c 'import yaml' 2>/dev/null || python3 -m pip install --quiet pyyaml >&2
    # kazoo likewise (fate_flow registers with it); Debian's python3-kazoo is 2.8.0.
    python3 -c 'import kazoo' 2>/dev/null || python3 -m pip install --quiet kazoo==2.8.0 >&2
    if ! command -v swift >/dev/null 2>&1; then
        [ -x /opt/swift/usr/bin/swift ] && export PATH=/opt/swift/usr/bin:$PATH
    fi
    command -v swift >/dev/null 2>&1 || { echo "swift not found: install the Swift 6 toolchain (swift.org) first" >&2; exit 1; }
}
