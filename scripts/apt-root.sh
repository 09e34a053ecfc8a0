# SPDX-License-Identifier: GPL-2.0
# A private apt root for packages from trixie and trixie-backports. The system's apt sources
# and state are never modified: apt-get only ever sees this directory's configuration.
# Sourced by scripts/setup.

APT_ROOT=$RHV_CACHE/apt-root

apt_root_opts() {
	printf '%s\n' \
		-o Dir::Etc="$APT_ROOT/etc/apt" \
		-o Dir::Etc::Parts="$APT_ROOT/etc/apt/apt.conf.d" \
		-o Dir::State::Lists="$APT_ROOT/lists" \
		-o Dir::Cache="$APT_ROOT/cache" \
		-o Dir::State::status="$APT_ROOT/status" \
		-o APT::Sandbox::User=root
}
apt_root_get() {
	local opts
	mapfile -t opts < <(apt_root_opts)
	apt-get -q "${opts[@]}" "$@"
}
apt_root_cache() {
	local opts
	mapfile -t opts < <(apt_root_opts)
	apt-cache "${opts[@]}" "$@"
}
# The versions of a package the private root knows, newest first, space-separated.
apt_root_versions() {
	apt_root_cache madison "$1" 2>/dev/null | awk -F'|' '{gsub(/ /,"",$2); print $2}' | sort -Vru
}

apt_root_init() {
	mkdir -p "$APT_ROOT"/{etc/apt/sources.list.d,etc/apt/apt.conf.d,etc/apt/preferences.d,lists/partial,cache/archives/partial}
	cat >"$APT_ROOT/etc/apt/sources.list.d/trixie.sources" <<-EOF
		Types: deb deb-src
		URIs: http://deb.debian.org/debian
		Suites: trixie trixie-backports
		Components: main
		Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
	EOF
	: >"$APT_ROOT/etc/apt/sources.list"
	cp /var/lib/dpkg/status "$APT_ROOT/status"
	# Refresh the lists at most once a day: a warm machine must not depend on the network.
	local stamp=$APT_ROOT/lists/.updated
	if [ -z "$(find "$stamp" -mmin -1440 2>/dev/null)" ]; then
		info "updating the private apt root's package lists"
		apt_root_get update >"$APT_ROOT/update.log" 2>&1 ||
			die "apt-get update of the private apt root failed (see $APT_ROOT/update.log)"
		touch "$stamp"
	fi
}

# apt_root_download DEST PKG[=VERSION]: downloads once into DEST; prints the .deb's path.
apt_root_download() {
	local dest=$1 spec=$2 name=${2%%=*} pattern
	pattern="${name}_*.deb"
	[ "$spec" != "$name" ] && pattern="${name}_$(printf '%s' "${spec#*=}" | sed 's/:/%3a/')_*.deb"
	mkdir -p "$dest"
	local have
	have=$(find "$dest" -maxdepth 1 -name "$pattern" | sort | tail -n1)
	if [ -z "$have" ]; then
		if ! apt_root_cache show "$spec" >/dev/null 2>&1; then
			die "package $spec is not in Debian's trixie/trixie-backports archive; it has: $(apt_root_versions "$name" | tr '\n' ' ')"
		fi
		(cd "$dest" && apt_root_get download "$spec" >/dev/null 2>&1) || die "downloading $spec failed"
		have=$(find "$dest" -maxdepth 1 -name "$pattern" | sort | tail -n1)
		[ -n "$have" ] || die "downloaded $spec but cannot find $pattern in $dest"
	fi
	echo "$have"
}
