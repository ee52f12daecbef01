#!/bin/sh
# A working LDAP-authenticating forward proxy on this machine, for trying by hand:
#
#   make demo            (or: sh demo/run.sh)
#
# - installs what is missing (sh t/deps.sh demo) and builds the module;
# - starts a throwaway slapd on a free loopback port with the test users of
#   t/fixtures/seed.ldif (alice/alice-secret, bob/bob-secret, ...);
# - starts a throwaway MIT Kerberos KDC (realm DEMO.TEST) on a free loopback
#   port with the same users and passwords, and a keytab for the proxy's
#   service principal HTTP/localhost: Negotiate (single sign-on) works with
#   curl --proxy-negotiate after kinit;
# - runs httpd in the foreground: the proxy on 127.0.0.1:3128 and a small origin
#   server on 127.0.0.1:8080, checks one Basic and one Negotiate login through it,
#   and prints the commands to try. Ctrl-C stops everything and removes the temp
#   folder.
#
# Ports: DEMO_PROXY_PORT (default 3128), DEMO_ORIGIN_PORT (default 8080).
set -eu

cd "$(dirname "$0")/.."
top=$(pwd)

proxy_port=${DEMO_PROXY_PORT:-3128}
origin_port=${DEMO_ORIGIN_PORT:-8080}

# port_free PORT: nothing listens on (or is bound to) 127.0.0.1:PORT.
port_free() {
	perl -MIO::Socket::INET -e 'exit(IO::Socket::INET->new(LocalAddr => "127.0.0.1",
	    LocalPort => $ARGV[0], Proto => "tcp", Listen => 1, ReuseAddr => 1) ? 0 : 1)' "$1"
}
free_port() {
	perl -MIO::Socket::INET -e 'print IO::Socket::INET->new(LocalAddr => "127.0.0.1",
	    LocalPort => 0, Proto => "tcp", Listen => 1)->sockport'
}
wait_port() { # wait_port PORT PID: until PORT accepts connections (max ~5 s)
	i=0
	while [ $i -lt 250 ]; do
		kill -0 "$2" 2>/dev/null || return 1
		perl -MIO::Socket::INET -e 'exit(IO::Socket::INET->new(PeerAddr => "127.0.0.1",
		    PeerPort => $ARGV[0], Proto => "tcp", Timeout => 1) ? 0 : 1)' "$1" && return 0
		sleep 0.02
		i=$((i + 1))
	done
	return 1
}

if ! port_free "$proxy_port"; then
	echo "demo: port $proxy_port is busy (another proxy running?); stop it or set DEMO_PROXY_PORT." >&2
	exit 1
fi
if ! port_free "$origin_port"; then
	echo "demo: port $origin_port is busy; stop what uses it or set DEMO_ORIGIN_PORT." >&2
	exit 1
fi

sh t/deps.sh demo
${MAKE:-make} --no-print-directory all

apxs=${APXS:-$(command -v apxs || echo /usr/bin/apxs)}
libexec=$("$apxs" -q LIBEXECDIR)
sbindir=$("$apxs" -q SBINDIR)
httpd=$sbindir/$("$apxs" -q TARGET)
module=$top/.libs/mod_proxyauth_ldap.so
[ -x "$httpd" ] || { echo "demo: $httpd not found" >&2; exit 1; }
[ -e "$module" ] || { echo "demo: $module not built" >&2; exit 1; }

tmp=
slapd_pid=
httpd_pid=
kdc_pid=
cleanup() {
	trap - EXIT INT TERM HUP
	[ -n "$httpd_pid" ] && kill "$httpd_pid" 2>/dev/null && wait "$httpd_pid" 2>/dev/null
	[ -n "$kdc_pid" ] && kill "$kdc_pid" 2>/dev/null && wait "$kdc_pid" 2>/dev/null
	[ -n "$slapd_pid" ] && kill "$slapd_pid" 2>/dev/null && wait "$slapd_pid" 2>/dev/null
	[ -n "$tmp" ] && rm -rf "$tmp"
	echo "demo: stopped, temp folder removed."
}
trap cleanup EXIT
trap 'exit 0' INT    # Ctrl-C is the normal way to end the demo
trap 'exit 143' TERM
trap 'exit 129' HUP

# A 0755 folder outside the checkout: httpd's children (nobody) read from it.
tmp=$(mktemp -d /tmp/pal-demo.XXXXXXXX)
chmod 0755 "$tmp"
mkdir -p "$tmp/slapd/data" "$tmp/htdocs" "$tmp/run"

# --- slapd --------------------------------------------------------------------
ldap_port=$(free_port)
cat >"$tmp/slapd/slapd.conf" <<EOF
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
pidfile  $tmp/slapd/slapd.pid
argsfile $tmp/slapd/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb

database mdb
suffix "dc=example,dc=test"
rootdn "cn=admin,dc=example,dc=test"
rootpw admin-secret
directory $tmp/slapd/data
index objectClass eq
index uid,cn eq,pres,sub
index member,uniqueMember eq
access to attrs=userPassword
    by self write
    by anonymous auth
    by * none
access to *
    by * read
EOF
chmod 0600 "$tmp/slapd/slapd.conf"
if ! slapadd -q -f "$tmp/slapd/slapd.conf" -l t/fixtures/seed.ldif >"$tmp/slapd/slapadd.log" 2>&1; then
	cat "$tmp/slapd/slapadd.log" >&2
	echo "demo: slapadd failed" >&2
	exit 1
fi
setpriv --pdeathsig TERM -- slapd -d 0 -f "$tmp/slapd/slapd.conf" \
	-h "ldap://127.0.0.1:$ldap_port/" >"$tmp/slapd/slapd.log" 2>&1 </dev/null &
slapd_pid=$!
if ! wait_port "$ldap_port" "$slapd_pid"; then
	cat "$tmp/slapd/slapd.log" >&2
	echo "demo: slapd did not start" >&2
	exit 1
fi

# --- Kerberos -----------------------------------------------------------------
# A realm of its own (DEMO.TEST) with the directory's users and passwords, and
# the proxy's service principal HTTP/localhost: clients reach the proxy as
# http://localhost:PORT, and curl asks for a ticket for that name. Every file
# of the realm (database, stash, logs) is in the temp folder.
kdc_port=$(free_port)
krb=$tmp/krb5
mkdir -p "$krb"
cat >"$krb/kdc.conf" <<EOF
[kdcdefaults]
	kdc_listen = 127.0.0.1:$kdc_port
	kdc_tcp_listen = 127.0.0.1:$kdc_port
[realms]
	DEMO.TEST = {
		database_name = $krb/principal
		key_stash_file = $krb/stash
		acl_file = $krb/kadm5.acl
		supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal
	}
[logging]
	kdc = FILE:$krb/kdc.log
EOF
cat >"$krb/krb5.conf" <<EOF
[libdefaults]
	default_realm = DEMO.TEST
	dns_lookup_kdc = false
	dns_lookup_realm = false
	rdns = false
	dns_canonicalize_hostname = false
	default_ccache_name = FILE:$krb/ccache
[realms]
	DEMO.TEST = {
		kdc = 127.0.0.1:$kdc_port
	}
EOF
: >"$krb/kadm5.acl"
KRB5_CONFIG="$krb/krb5.conf"
KRB5_KDC_PROFILE="$krb/kdc.conf"
export KRB5_CONFIG KRB5_KDC_PROFILE
krb_setup() {
	kdb5_util create -s -r DEMO.TEST -P "demo-master-$$" || return 1
	for u in alice:alice-secret bob:bob-secret; do
		kadmin.local -r DEMO.TEST -q "addprinc -pw ${u#*:} ${u%%:*}" || return 1
	done
	kadmin.local -r DEMO.TEST -q "addprinc -randkey HTTP/localhost" &&
	kadmin.local -r DEMO.TEST -q "ktadd -k $krb/proxy.keytab HTTP/localhost"
}
if ! krb_setup >"$krb/setup.log" 2>&1; then
	cat "$krb/setup.log" >&2
	echo "demo: the Kerberos realm could not be made" >&2
	exit 1
fi
# httpd's children read the keytab: the group of their user, nobody else.
if [ "$(id -u)" -eq 0 ]; then
	chgrp "$(id -gn nobody 2>/dev/null || echo nogroup)" "$krb/proxy.keytab"
fi
chmod 0640 "$krb/proxy.keytab"
setpriv --pdeathsig TERM -- krb5kdc -n -r DEMO.TEST </dev/null >"$krb/kdc.out" 2>&1 &
kdc_pid=$!
if ! wait_port "$kdc_port" "$kdc_pid"; then
	cat "$krb/kdc.out" "$krb/kdc.log" >&2 2>/dev/null
	echo "demo: the KDC did not start" >&2
	exit 1
fi

# --- httpd --------------------------------------------------------------------
printf '%s\n' 'svc-secret' >"$tmp/bindpw"
chmod 0600 "$tmp/bindpw"
cat >"$tmp/htdocs/index.html" <<'EOF'
<!DOCTYPE html>
<html><head><title>origin</title></head>
<body><p>Hello from the demo origin server: you got through the proxy.</p></body></html>
EOF
: >"$tmp/mime.types"

user_group=
if [ "$(id -u)" -eq 0 ]; then
	user_group="User nobody
Group $(id -gn nobody 2>/dev/null || echo nogroup)"
fi

loadmodules=
for m in mpm_event authz_core authz_host authz_user authn_core mime dir log_config \
	socache_shmcb proxy proxy_http proxy_connect; do
	so=$libexec/mod_$m.so
	[ -e "$so" ] && loadmodules="$loadmodules
LoadModule ${m}_module $so"
done

cat >"$tmp/httpd.conf" <<EOF
# mod_proxyauth_ldap demo (generated by demo/run.sh)
ServerRoot "$tmp"
ServerName 127.0.0.1
PidFile "$tmp/run/httpd.pid"
DefaultRuntimeDir "$tmp/run"
ErrorLog /dev/stderr
LogLevel warn proxyauth_ldap:info
$user_group
$loadmodules
LoadModule proxyauth_ldap_module $module

TypesConfig "$tmp/mime.types"
AddType text/html .html
LogFormat "%h %u \"%r\" %>s proxyauth=%{proxyauth-result}n scheme=%{proxyauth-scheme}n" demo
CustomLog /dev/stdout demo

Listen 127.0.0.1:$proxy_port
Listen 127.0.0.1:$origin_port

# The forward proxy: every request needs an LDAP user.
<VirtualHost 127.0.0.1:$proxy_port>
    ProxyRequests On
    AllowCONNECT 443 $origin_port
    <Proxy "*">
        ProxyAuthLDAP On
        ProxyAuthRealm "Demo proxy"
        ProxyAuthLDAPURL "ldap://127.0.0.1:$ldap_port/ou=people,dc=example,dc=test?uid?sub?(objectClass=inetOrgPerson)"
        ProxyAuthLDAPBindDN cn=proxy-svc,dc=example,dc=test
        ProxyAuthLDAPBindPassword file:$tmp/bindpw
        # Kerberos single sign-on first, Basic for everyone else.
        ProxyAuthNegotiate On
        ProxyAuthKeytab $krb/proxy.keytab
    </Proxy>
</VirtualHost>

# A small origin server.
<VirtualHost 127.0.0.1:$origin_port>
    ProxyRequests Off
    DocumentRoot "$tmp/htdocs"
    DirectoryIndex index.html
    <Directory "$tmp/htdocs">
        Require all granted
    </Directory>
</VirtualHost>
EOF

if ! "$httpd" -t -f "$tmp/httpd.conf" >"$tmp/configtest.log" 2>&1; then
	cat "$tmp/configtest.log" >&2
	echo "demo: httpd refused the configuration" >&2
	exit 1
fi

setpriv --pdeathsig TERM -- "$httpd" -DFOREGROUND -f "$tmp/httpd.conf" </dev/null &
httpd_pid=$!
if ! wait_port "$proxy_port" "$httpd_pid"; then
	echo "demo: httpd did not start" >&2
	exit 1
fi

# One login of each kind, so the demo shows that it works before it waits.
login_check() { # login_check WHAT CURL-ARGS...: prints the status it got
	what=$1
	shift
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$@" \
		"http://127.0.0.1:$origin_port/" 2>/dev/null) || code="no answer"
	echo "demo: $what: $code"
}
echo
login_check "Basic login as alice" -x "http://127.0.0.1:$proxy_port" -U alice:alice-secret
if printf '%s\n' alice-secret | kinit alice >"$krb/kinit.log" 2>&1; then
	login_check "Negotiate login as alice (Kerberos ticket from kinit)" \
		--proxy-negotiate -U : -x "http://localhost:$proxy_port"
	kdestroy >/dev/null 2>&1 || true
else
	echo "demo: kinit failed, no Negotiate check:"
	cat "$krb/kinit.log"
fi

cat <<EOF

mod_proxyauth_ldap demo: proxy http://127.0.0.1:$proxy_port/, origin http://127.0.0.1:$origin_port/,
slapd ldap://127.0.0.1:$ldap_port/ (users of t/fixtures/seed.ldif),
KDC 127.0.0.1:$kdc_port (realm DEMO.TEST: alice and bob, same passwords).
In another terminal:

  # 407 Proxy Authentication Required (no credentials)
  curl -si -x http://127.0.0.1:$proxy_port http://127.0.0.1:$origin_port/
  # 200, the origin's page
  curl -si -x http://127.0.0.1:$proxy_port -U alice:alice-secret http://127.0.0.1:$origin_port/
  # 407 (wrong credentials: carol is not under ou=people, and the password is wrong)
  curl -si -x http://127.0.0.1:$proxy_port -U carol:wrong http://127.0.0.1:$origin_port/
  # CONNECT tunnel through the proxy (-p), then HTTP inside it
  curl -si -p -x http://127.0.0.1:$proxy_port -U bob:bob-secret http://127.0.0.1:$origin_port/
  # Negotiate (Kerberos single sign-on): a ticket, then no password for the proxy
  export KRB5_CONFIG=$krb/krb5.conf
  echo bob-secret | kinit bob
  curl -si --proxy-negotiate -U : -x http://localhost:$proxy_port http://127.0.0.1:$origin_port/

Access log below (user, status, proxyauth result). Ctrl-C stops the demo.

EOF

# wait returns when httpd ends or a trapped signal arrives (cleanup runs on exit).
set +e
wait "$httpd_pid"
rc=$?
httpd_pid=
exit $rc
