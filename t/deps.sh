#!/bin/sh
# Installs the Debian packages that a build, the test suite or the demo needs.
#
#   sh t/deps.sh build|test|demo|deb|bench|soak|fuzz
#
# Nothing is printed and nothing is installed when every package of the mode is
# already there. As root the missing packages are installed with apt-get; as any
# other user the command to run is printed and the script exits 1.
set -eu

mode=${1:-}

build_pkgs="apache2-bin apache2-dev libldap-dev libssl-dev libkrb5-dev gcc make libc6-dev"
# The Samba AD DC of t/96ad.t (t/lib/PALSamba.pm): samba-tool provisions a
# throwaway domain, `ip netns` gives the DC a network namespace of its own,
# ldb-tools read and write its database, samba-tool needs /usr/bin/python3.
samba_pkgs="samba samba-ad-dc samba-ad-provision samba-dsdb-modules winbind ldb-tools smbclient krb5-user iproute2 python3"
# curl: the client of t/65https_proxy.t, which talks TLS to the proxy itself
# (--proxy https://...), and of t/97negotiate.t (--proxy-negotiate), which
# runs it under unshare with mount --bind (mount: required, not essential).
# valgrind: make test-valgrind (gcc's libasan/libtsan for test-asan and
# test-tsan come with gcc).
case "$mode" in
build) pkgs=$build_pkgs ;;
test)  pkgs="$build_pkgs debhelper dpkg-dev build-essential libapache2-mod-perl2 libwww-perl libnet-ldap-perl libgssapi-perl slapd ldap-utils openssl redis-server procps curl valgrind mount $samba_pkgs" ;;
# make deb (and t/99deb.t): debhelper and dpkg-dev; dh_apache2 is apache2-dev's;
# dpkg-buildpackage also wants build-essential on Debian.
deb)   pkgs="$build_pkgs debhelper dpkg-dev build-essential" ;;
# krb5-kdc and krb5-admin-server: the demo's own KDC (kdb5_util, kadmin.local);
# krb5-user: kinit for its Negotiate login.
demo)  pkgs="$build_pkgs slapd ldap-utils openssl curl krb5-kdc krb5-admin-server krb5-user" ;;
# bench/run.pl (make bench): the competitors and the load generator.
# bench/negotiate.pl: an MIT KDC of its own, kinit, GSSAPI tokens from Perl,
# mod_auth_gssapi as the competitor, curl to warm the caches.
bench) pkgs="$build_pkgs slapd ldap-utils wrk squid gnuplot-nox procps krb5-kdc krb5-admin-server krb5-user libgssapi-perl libapache2-mod-auth-gssapi curl" ;;
# t/soak/soak.pl (make soak): slapd and redis of its own; mod_socache_redis
# comes with apache2-bin, setpriv with util-linux.
soak)  pkgs="$build_pkgs perl slapd redis-server util-linux" ;;
# make fuzz: libFuzzer and the sanitizer runtimes ship in libclang-rt-dev, not
# with clang itself; both unversioned names follow Debian's default clang.
fuzz)  pkgs="$build_pkgs clang libclang-rt-dev" ;;
*)
	echo "usage: sh t/deps.sh build|test|demo|deb|bench|soak|fuzz" >&2
	exit 2
	;;
esac

if ! command -v dpkg-query >/dev/null 2>&1; then
	echo "t/deps.sh: dpkg-query not found: this installer knows Debian/Ubuntu only." >&2
	echo "t/deps.sh: install the equivalents of: $pkgs" >&2
	exit 1
fi

missing=
for p in $pkgs; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$status" in
	"install ok installed") ;;
	*) missing="$missing $p" ;;
	esac
done
missing=${missing# }

[ -z "$missing" ] && exit 0

# Without the preseed, slapd's postinst would create a system database for
# the machine's domain (and start a daemon on port 389); the suite runs its own.
# krb5-config (pulled in by krb5-user) and samba-common ask questions: with
# DEBIAN_FRONTEND=noninteractive they take their defaults; these answers keep
# them from adding KDCs to /etc/krb5.conf or DHCP hooks to smb.conf (the
# suite's DC has a config of its own, never the system one).
preseed='slapd slapd/no_configuration boolean true
krb5-config krb5-config/add_servers boolean false
krb5-config krb5-config/read_conf boolean true
samba-common samba-common/dhcp boolean false'

if [ "$(id -u)" -ne 0 ]; then
	echo "t/deps.sh: missing Debian packages for '$mode': $missing" >&2
	echo "t/deps.sh: run as root, then try again:" >&2
	printf "  printf '%%s\\\\n' '%s' | sudo debconf-set-selections\n" "$preseed" >&2
	echo "  sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing" >&2
	exit 1
fi

echo "t/deps.sh: installing for '$mode': $missing"
DEBIAN_FRONTEND=noninteractive
export DEBIAN_FRONTEND
if command -v debconf-set-selections >/dev/null 2>&1; then
	printf '%s\n' "$preseed" | debconf-set-selections
fi
# A failed refresh (offline mirror) still leaves the cached lists usable.
apt-get update -q || echo "t/deps.sh: apt-get update failed, trying the cached package lists" >&2
# shellcheck disable=SC2086 # word splitting of the list is intended
apt-get install -y -q --no-install-recommends $missing
