#!/bin/sh
# Installs fate-upgrade from this unpacked release: the binary, shell completions and man pages.
#   sh install.sh [PREFIX]        (default /usr/local; needs write access there)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
prefix=${1:-/usr/local}
install -d "$prefix/bin" "$prefix/share/man/man1" \
    "$prefix/share/bash-completion/completions" "$prefix/share/zsh/site-functions" "$prefix/share/fish/vendor_completions.d"
install -m 0755 "$here/bin/fate-upgrade" "$prefix/bin/fate-upgrade"
install -m 0644 "$here"/man/man1/*.1 "$prefix/share/man/man1/"
install -m 0644 "$here/completions/fate-upgrade.bash" "$prefix/share/bash-completion/completions/fate-upgrade"
install -m 0644 "$here/completions/_fate-upgrade" "$prefix/share/zsh/site-functions/_fate-upgrade"
install -m 0644 "$here/completions/fate-upgrade.fish" "$prefix/share/fish/vendor_completions.d/fate-upgrade.fish"
"$prefix/bin/fate-upgrade" --version
