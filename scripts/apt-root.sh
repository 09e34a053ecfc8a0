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

# The Debian mirror: RHV_DEBIAN_MIRROR if set, else the first Debian archive of the system's own
# apt sources (deb822 .sources and one-line .list files; a source is Debian's when a suite is a
# Debian release name, security archives skipped), else deb.debian.org. So a machine behind a
# local mirror or proxy uses it. Prints the URI; says which one and why on stderr.
debian_mirror() {
	if [ -n "${RHV_DEBIAN_MIRROR:-}" ]; then
		info "Debian mirror: $RHV_DEBIAN_MIRROR (RHV_DEBIAN_MIRROR)"
		echo "$RHV_DEBIAN_MIRROR"
		return
	fi
	local files=() f uri
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] && files+=("$f")
	done
	uri=$(debian_mirror_parse "${files[@]}")
	if [ -n "$uri" ]; then
		info "Debian mirror: ${uri%% *} (from the system's apt sources, ${uri#* })"
		echo "${uri%% *}"
	else
		info "Debian mirror: http://deb.debian.org/debian (no Debian archive in the system's apt sources)"
		echo http://deb.debian.org/debian
	fi
}
# debian_mirror_parse FILE...: "URI FILE" of the first Debian archive found, or nothing.
debian_mirror_parse() {
	local releases='(buster|bullseye|bookworm|trixie|forky|duke|sid|oldstable|stable|testing|unstable)(-updates|-backports|-proposed-updates)?'
	local f
	for f in "$@"; do
		case $f in
		*.sources)
			# deb822: blank-line separated stanzas of "Field: value".
			awk -v re="^$releases\$" -v file="$f" '
				function flush() {
					if (types ~ /(^| )deb( |$)/ && enabled != "no" && uris != "") {
						n = split(suites, s, " ")
						for (i = 1; i <= n; i++) if (s[i] ~ re) { split(uris, u, " "); print u[1], file; exit 0 }
					}
					types = ""; suites = ""; uris = ""; enabled = ""
				}
				/^[ \t]*#/ { next }
				/^[ \t]*$/ { flush(); next }
				tolower($1) == "types:" { $1 = ""; types = $0 }
				tolower($1) == "uris:" { $1 = ""; uris = $0; sub(/^ +/, "", uris) }
				tolower($1) == "suites:" { $1 = ""; suites = $0 }
				tolower($1) == "enabled:" { enabled = tolower($2) }
				END { flush() }' "$f"
			;;
		*)
			# one-line: deb [options] URI suite component...
			sed -e 's/#.*//' -e 's/\[[^]]*\]//' "$f" |
				awk -v re="^$releases\$" -v file="$f" '$1 == "deb" && $3 ~ re { print $2, file; exit }'
			;;
		esac
	done | head -n1
}

apt_root_init() {
	mkdir -p "$APT_ROOT"/{etc/apt/sources.list.d,etc/apt/apt.conf.d,etc/apt/preferences.d,lists/partial,cache/archives/partial}
	local mirror
	mirror=$(debian_mirror)
	cat >"$APT_ROOT/etc/apt/sources.list.d/trixie.sources" <<-EOF
		Types: deb deb-src
		URIs: $mirror
		Suites: trixie trixie-backports
		Components: main
		Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
	EOF
	: >"$APT_ROOT/etc/apt/sources.list"
	cp /var/lib/dpkg/status "$APT_ROOT/status"
	# Refresh the lists at most once a day: a warm machine must not depend on the network.
	local stamp=$APT_ROOT/lists/.updated
	# A different mirror than the lists came from needs new lists.
	if [ -z "$(find "$stamp" -mmin -1440 2>/dev/null)" ] || [ "$(cat "$stamp")" != "$mirror" ]; then
		info "updating the private apt root's package lists"
		apt_root_get update >"$APT_ROOT/update.log" 2>&1 ||
			die "apt-get update of the private apt root failed (see $APT_ROOT/update.log)"
		echo "$mirror" >"$stamp"
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
