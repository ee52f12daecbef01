# Configuration checks: every case runs `apache2 -t` on a small throwaway
# config (PALTest::httpd_configtest: the suite's LoadModule lines plus the
# module) and checks the exit code and that the output names the directive
# and the problem. No request is sent; the suite's httpd is not used.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use PALTest;
use PALConfig;
use File::Spec;
use File::Temp ();

# A CA file that exists (the fixture's, or a stand-in with the same role).
my $ca_file = ($ENV{PAL_CA_FILE} && -r $ENV{PAL_CA_FILE}) ? $ENV{PAL_CA_FILE}
            : do {
                system('openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt',
                       'ec_paramgen_curve:prime256v1', '-nodes', '-keyout',
                       "$tmp/ca.key", '-out', "$tmp/ca.crt", '-subj', '/CN=PAL 70config',
                       '-days', '1') == 0 or die "openssl failed";
                "$tmp/ca.crt";
            };

my $URL   = 'ldap://127.0.0.1/dc=example,dc=test?uid?sub?(objectClass=*)';
my $LDAPS = 'ldaps://127.0.0.1/dc=example,dc=test?uid?sub';
my $GROUP = 'cn=staff,ou=groups,dc=example,dc=test';

# ---------------------------------------------------------------------------
# ProxyAuthLDAP On needs ProxyAuthLDAPURL

check('On without URL in <Proxy "*">: refused, names ProxyAuthLDAPURL',
      proxy_conf('ProxyAuthLDAP On'),
      ok => 0, like => [qr/ProxyAuthLDAPURL/]);
check('On without URL at server level: refused, names ProxyAuthLDAPURL',
      "ProxyRequests On\nProxyAuthLDAP On\n",
      ok => 0, like => [qr/ProxyAuthLDAPURL/]);
check('On without URL in <ProxyMatch>: refused, names ProxyAuthLDAPURL',
      "ProxyRequests On\n<ProxyMatch \"^http:\">\nProxyAuthLDAP On\n</ProxyMatch>\n",
      ok => 0, like => [qr/ProxyAuthLDAPURL/]);
check('On without URL in <VirtualHost>: refused, names ProxyAuthLDAPURL',
      "<VirtualHost 127.0.0.1:8080>\nProxyRequests On\nProxyAuthLDAP On\n</VirtualHost>\n",
      ok => 0, like => [qr/ProxyAuthLDAPURL/]);
check('On without URL in <Proxy "*"> of a <VirtualHost>: refused',
      "<VirtualHost 127.0.0.1:8080>\nProxyRequests On\n<Proxy \"*\">\nProxyAuthLDAP On\n"
      . "</Proxy>\n</VirtualHost>\n",
      ok => 0, like => [qr/ProxyAuthLDAPURL/]);
check('On in <Proxy "*"> with the URL inherited from the server level: Syntax OK',
      proxy_conf('ProxyAuthLDAP On', "ProxyAuthLDAPURL \"$URL\"\n"),
      ok => 1);
check('On in a <VirtualHost> with the URL inherited from the main server: Syntax OK',
      "ProxyAuthLDAPURL \"$URL\"\n<VirtualHost 127.0.0.1:8080>\nProxyRequests On\n"
      . "<Proxy \"*\">\nProxyAuthLDAP On\n</Proxy>\n</VirtualHost>\n",
      ok => 1);
check('On with the URL in the same <Proxy "*">: Syntax OK',
      proxy_conf("ProxyAuthLDAP On\nProxyAuthLDAPURL \"$URL\""), ok => 1);
check('URL without On (module off): Syntax OK',
      proxy_conf("ProxyAuthLDAPURL \"$URL\""), ok => 1);

# ---------------------------------------------------------------------------
# ProxyAuthLDAPURL

my @bad_urls = (
    ['http://x/',                                   qr/ldap/i,           'not an ldap scheme'],
    ['ldap://',                                     qr/host|DN/i,        'no host, no base DN'],
    ['ldap:///dc=x',                                qr/host/i,           'no host'],
    ['ldap://host:99999/dc=x',                      qr/port|99999/i,     'port out of range'],
    ['ldap://host:0/dc=x',                          qr/port/i,           'port 0'],
    ['ldap://[::1/dc=x',                            qr/IPv6|host/i,      'unclosed IPv6 bracket'],
    ['ldap://h/dc=x?uid?base',                      qr/scope|base/i,     'scope base'],
    ['ldap://h/dc=x?uid?bogus',                     qr/scope|parse/i,    'unknown scope'],
    ['ldap://h/dc=x?u(id',                          qr/attribute/i,      'bad login attribute'],
    ['ldap://h/dc=x?uid?sub?objectClass=*',         qr/filter/i,         'filter not in parentheses'],
    ['ldap://h/dc=x?uid?sub?(objectClass=*',        qr/filter/i,         'filter without closing parenthesis'],
    ['ldap://h/dc=x?uid?sub?(objectClass=*)junk',   qr/filter/i,         'filter with trailing text'],
    ['ldap://h/dc=x?uid?sub?(&(objectClass=*)',     qr/filter/i,         'unbalanced filter'],
    ['ldap://h/notadn?uid?sub',                     qr/DN/i,             'base DN that is not a DN'],
);
for my $c (@bad_urls) {
    my ($url, $re, $what) = @$c;
    check("ProxyAuthLDAPURL $url ($what): refused, names the directive",
          proxy_conf("ProxyAuthLDAPURL \"$url\""),
          ok => 0, like => [qr/ProxyAuthLDAPURL/, $re]);
}

my @good_urls = (
    ['ldap://a:389 b:1389/dc=x?uid?sub?(objectClass=*)', 'several hosts'],
    ['ldap://[::1]:389/dc=x',                            'IPv6 host'],
    ['ldap://[2001:db8::1]/dc=x?uid',                    'IPv6 host, default port'],
    ['ldap://h/dc=x?uid??(objectClass=*)',               'empty scope'],
    ['ldap://h/dc=x?sAMAccountName?one?(&(objectClass=user)(!(userAccountControl:1.2.840.113556.1.4.803:=2)))',
                                                         'scope one, AD filter'],
    ['ldaps://h/dc=x',                                   'ldaps, nothing after the base DN'],
    ['ldap://h/dc=x?',                                   'empty attribute'],
);
for my $c (@good_urls) {
    my ($url, $what) = @$c;
    check("ProxyAuthLDAPURL $url ($what): accepted",
          proxy_conf("ProxyAuthLDAP On\nProxyAuthLDAPURL \"$url\""), ok => 1);
}

# ---------------------------------------------------------------------------
# ProxyAuthLDAPBindPassword

my $pw_file    = write_file('pw', "file-secret\nsecond line\n");
my $pw_crlf    = write_file('pw-crlf', "file-secret\r\n");
my $pw_empty   = write_file('pw-empty', '');
my $pw_newline = write_file('pw-newline', "\nsecret-on-line-2\n");

check('BindPassword file:/nonexistent: refused, names the directive and the file',
      proxy_conf('ProxyAuthLDAPBindPassword file:/nonexistent'),
      ok => 0, like => [qr/ProxyAuthLDAPBindPassword/, qr{/nonexistent}]);
check('BindPassword exec:/bin/false: refused, names the directive',
      proxy_conf('ProxyAuthLDAPBindPassword exec:/bin/false'),
      ok => 0, like => [qr/ProxyAuthLDAPBindPassword/, qr{/bin/false}]);
check('BindPassword exec: of a missing program: refused',
      proxy_conf('ProxyAuthLDAPBindPassword exec:/nonexistent/program'),
      ok => 0, like => [qr/ProxyAuthLDAPBindPassword/]);
check('BindPassword "exec:/bin/echo s3cret": accepted',
      proxy_conf('ProxyAuthLDAPBindPassword "exec:/bin/echo s3cret"'), ok => 1);
check('BindPassword exec: printing nothing: refused (empty password)',
      proxy_conf('ProxyAuthLDAPBindPassword exec:/bin/true'),
      ok => 0, like => [qr/ProxyAuthLDAPBindPassword/, qr/empty/i]);
check('BindPassword file: with a password: accepted',
      proxy_conf("ProxyAuthLDAPBindPassword \"file:$pw_file\""), ok => 1);
check('BindPassword file: with a CRLF line end: accepted',
      proxy_conf("ProxyAuthLDAPBindPassword \"file:$pw_crlf\""), ok => 1);
check('BindPassword file: of an empty file: refused (empty password)',
      proxy_conf("ProxyAuthLDAPBindPassword \"file:$pw_empty\""),
      ok => 0, like => [qr/ProxyAuthLDAPBindPassword/, qr/empty/i]);
check('BindPassword file: whose first line is empty: refused (empty password)',
      proxy_conf("ProxyAuthLDAPBindPassword \"file:$pw_newline\""),
      ok => 0, like => [qr/ProxyAuthLDAPBindPassword/, qr/empty/i]);
check('BindPassword "exec:" without a program: refused',
      proxy_conf('ProxyAuthLDAPBindPassword exec:'),
      ok => 0, like => [qr/ProxyAuthLDAPBindPassword/]);

# ---------------------------------------------------------------------------
# Bad arguments

my @bad_args = (
    ['ProxyAuthLDAP maybe',                         qr/ProxyAuthLDAP\b/,             qr/On|Off/],
    ['ProxyAuthLDAPTimeout 0',                      qr/ProxyAuthLDAPTimeout/,        qr/\b0\b/],
    ['ProxyAuthLDAPTimeout abc',                    qr/ProxyAuthLDAPTimeout/,        qr/abc/],
    ['ProxyAuthLDAPTimeout -3',                     qr/ProxyAuthLDAPTimeout/,        qr/-3/],
    ['ProxyAuthLDAPPoolSize -1',                    qr/ProxyAuthLDAPPoolSize/,       qr/-1/],
    ['ProxyAuthLDAPPoolSize 0',                     qr/ProxyAuthLDAPPoolSize/,       qr/\b0\b/],
    ['ProxyAuthLDAPPoolSize 8x',                    qr/ProxyAuthLDAPPoolSize/,       qr/8x/],
    ['ProxyAuthLDAPCACertificate /nonexistent',     qr/ProxyAuthLDAPCACertificate/,  qr{/nonexistent}],
    ["ProxyAuthLDAPCACertificate \"$tmp\"",         qr/ProxyAuthLDAPCACertificate/,  qr/\Q$tmp\E/],
    ['ProxyAuthForwardUser "bad header"',           qr/ProxyAuthForwardUser/,        qr/bad header/],
    ['ProxyAuthForwardUser "X-User:"',              qr/ProxyAuthForwardUser/,        qr/X-User:/],
    ['ProxyAuthLDAPGroupAttribute "a(b"',           qr/ProxyAuthLDAPGroupAttribute/, qr/a\(b/],
    ['ProxyAuthLDAPGroupAttribute member "x=y"',    qr/ProxyAuthLDAPGroupAttribute/, qr/x=y/],
    ['ProxyAuthLDAPBindDN "not a dn"',              qr/ProxyAuthLDAPBindDN/,         qr/not a dn/],
    ['ProxyAuthLDAPStartTLS maybe',                 qr/ProxyAuthLDAPStartTLS/,       qr/On|Off/],
    ['ProxyAuthLDAPVerifyServerCert yes',           qr/ProxyAuthLDAPVerifyServerCert/, qr/On|Off/],
    ['ProxyAuthLDAPNestedGroups 1',                 qr/ProxyAuthLDAPNestedGroups/,   qr/On|Off/],
    ['ProxyAuthLDAPStripDomain 1',                  qr/ProxyAuthLDAPStripDomain/,    qr/On|Off/],
    ['ProxyAuthLDAPReferrals 1',                    qr/ProxyAuthLDAPReferrals/,      qr/On|Off/],
    ['Require proxy-ldap-group "not a dn"',         qr/proxy-ldap-group/,            qr/not a dn/],
    ['Require proxy-ldap-group',                    qr/proxy-ldap-group/,            qr/DN/i],
);
for my $c (@bad_args) {
    my ($line, $dir_re, $problem_re) = @$c;
    check("$line: refused, names the directive and the value",
          proxy_conf($line), ok => 0, like => [$dir_re, $problem_re]);
}

my @good_args = (
    "ProxyAuthLDAPCACertificate \"$ca_file\"",
    'ProxyAuthLDAPTimeout 1',
    'ProxyAuthLDAPPoolSize 1',
    'ProxyAuthForwardUser X-Remote-User',
    'ProxyAuthLDAPGroupAttribute member uniqueMember memberUid',
    "ProxyAuthLDAPBindDN \"cn=proxy-svc, dc=example, dc=test\"\nProxyAuthLDAPBindPassword svc-secret",
    "Require proxy-ldap-group \"$GROUP\" \"cn=admins,ou=groups,dc=example,dc=test\"",
);
for my $line (@good_args) {
    check((split /\n/, $line)[0] . ': accepted',
          proxy_conf("ProxyAuthLDAP On\nProxyAuthLDAPURL \"$URL\"\n$line"), ok => 1);
}

# A CA file with no certificate in it: every TLS connection would fail.
my $ca_garbage = write_file('garbage-ca.pem', "this is not a certificate\n");
check('ProxyAuthLDAPCACertificate naming a file without any certificate: refused',
      proxy_conf("ProxyAuthLDAP On\nProxyAuthLDAPURL \"$LDAPS\"\n"
                 . "ProxyAuthLDAPCACertificate \"$ca_garbage\""),
      ok => 0, like => [qr/ProxyAuthLDAPCACertificate/]);

# ---------------------------------------------------------------------------
# ProxyAuthLDAPBindDN without ProxyAuthLDAPBindPassword

check('BindDN without BindPassword (On, <Proxy "*">): refused, names both',
      proxy_conf("ProxyAuthLDAP On\nProxyAuthLDAPURL \"$URL\"\n"
                 . 'ProxyAuthLDAPBindDN "cn=proxy-svc,dc=example,dc=test"'),
      ok => 0, like => [qr/ProxyAuthLDAPBindDN/, qr/ProxyAuthLDAPBindPassword/]);
check('BindDN without BindPassword, both from the server level: refused',
      proxy_conf('ProxyAuthLDAP On', "ProxyAuthLDAPURL \"$URL\"\n"
                 . "ProxyAuthLDAPBindDN \"cn=proxy-svc,dc=example,dc=test\"\n"),
      ok => 0, like => [qr/ProxyAuthLDAPBindDN/, qr/ProxyAuthLDAPBindPassword/]);
check('BindDN in <Proxy "*">, BindPassword inherited from the server: accepted',
      proxy_conf("ProxyAuthLDAP On\nProxyAuthLDAPBindDN \"cn=proxy-svc,dc=example,dc=test\"",
                 "ProxyAuthLDAPURL \"$URL\"\nProxyAuthLDAPBindPassword svc-secret\n"),
      ok => 1);

# ---------------------------------------------------------------------------
# Scopes: refused in <Location>, <Directory>, <Files>; accepted in <Proxy>,
# <ProxyMatch>, <VirtualHost> and at server level. Every per-directory
# directive of the SPEC, with a valid value.

my $secret_file = write_file('cache.secret', "0123456789abcdef0123456789abcdef\n");
my @dir_directives = (
    ['ProxyAuthLDAP',                  'Off'],
    ['ProxyAuthRealm',                 '"Proxy"'],
    ['ProxyAuthLDAPURL',               "\"$URL\""],
    ['ProxyAuthLDAPBindDN',            '"cn=proxy-svc,dc=example,dc=test"'],
    ['ProxyAuthLDAPBindPassword',      'svc-secret'],
    ['ProxyAuthLDAPStartTLS',          'Off'],
    ['ProxyAuthLDAPCACertificate',     "\"$ca_file\""],
    ['ProxyAuthLDAPVerifyServerCert',  'On'],
    ['ProxyAuthLDAPTimeout',           '5'],
    ['ProxyAuthLDAPGroupAttribute',    'member uniqueMember'],
    ['ProxyAuthLDAPNestedGroups',      'Off'],
    ['ProxyAuthLDAPStripDomain',       'Off'],
    ['ProxyAuthLDAPReferrals',         'Off'],
    ['ProxyAuthLDAPPoolSize',          '8'],
    ['ProxyAuthForwardUser',           'X-Remote-User'],
);

# The *Match forms and nesting (one directive each).
check('ProxyAuthLDAP refused in <LocationMatch>',
      "<LocationMatch \"^/\">\nProxyAuthLDAP Off\n</LocationMatch>\n",
      ok => 0, like => [qr/ProxyAuthLDAP\b.*<LocationMatch/]);
check('ProxyAuthLDAPURL refused in <DirectoryMatch>',
      "<DirectoryMatch \"^/\">\nProxyAuthLDAPURL \"$URL\"\n</DirectoryMatch>\n",
      ok => 0, like => [qr/ProxyAuthLDAPURL\b.*<DirectoryMatch/]);
check('ProxyAuthRealm refused in <FilesMatch>',
      "<FilesMatch \"x\">\nProxyAuthRealm x\n</FilesMatch>\n",
      ok => 0, like => [qr/ProxyAuthRealm\b.*<FilesMatch/]);
check('ProxyAuthLDAP refused in <Files> nested in <Proxy "*">',
      "<Proxy \"*\">\n<Files \"x\">\nProxyAuthLDAP Off\n</Files>\n</Proxy>\n",
      ok => 0, like => [qr/ProxyAuthLDAP\b.*<Files/]);
check('ProxyAuthLDAPURL refused in <Location> of a <VirtualHost>',
      "<VirtualHost 127.0.0.1:8080>\n<Location \"/\">\nProxyAuthLDAPURL \"$URL\"\n"
      . "</Location>\n</VirtualHost>\n",
      ok => 0, like => [qr/ProxyAuthLDAPURL\b.*<Location/]);

scope_checks(\@dir_directives);

# ---------------------------------------------------------------------------
# Start-up warnings: visible in `apache2 -t` (check_config runs there and
# writes to stderr before the error log is opened).

check('AuthType Basic in <Proxy "*"> with ProxyAuthLDAP On: Syntax OK + PAL0006',
      proxy_conf("ProxyAuthLDAP On\nProxyAuthLDAPURL \"$URL\"\nAuthType Basic"),
      ok => 1, like => [qr/PAL0006/, qr/AuthType/]);
check('AuthType Basic in <Proxy "*">, ProxyAuthLDAP On at server level: PAL0006',
      proxy_conf('AuthType Basic', "ProxyAuthLDAP On\nProxyAuthLDAPURL \"$URL\"\n"),
      ok => 1, like => [qr/PAL0006/, qr/AuthType/]);
check('AuthType Basic in <Proxy "*"> of an enabled <VirtualHost>: PAL0006',
      "<VirtualHost 127.0.0.1:8080>\nProxyRequests On\nProxyAuthLDAP On\n"
      . "ProxyAuthLDAPURL \"$URL\"\n<Proxy \"*\">\nAuthType Basic\n</Proxy>\n</VirtualHost>\n",
      ok => 1, like => [qr/PAL0006/, qr/AuthType/]);
check('AuthType Basic with ProxyAuthLDAP Off: no PAL0006',
      proxy_conf("ProxyAuthLDAP Off\nProxyAuthLDAPURL \"$URL\"\nAuthType Basic"),
      ok => 1, unlike => [qr/PAL0006/]);
check('AuthType Basic in a <Proxy> that turns ProxyAuthLDAP Off under an enabled server: no PAL0006',
      proxy_conf("ProxyAuthLDAP Off\nAuthType Basic",
                 "ProxyAuthLDAP On\nProxyAuthLDAPURL \"$URL\"\n"),
      ok => 1, unlike => [qr/PAL0006/]);
check('ProxyAuthLDAP On without AuthType: no PAL0006',
      proxy_conf("ProxyAuthLDAP On\nProxyAuthLDAPURL \"$URL\""),
      ok => 1, unlike => [qr/PAL0006/]);

check('VerifyServerCert Off with an ldaps URL: Syntax OK + PAL0004',
      proxy_conf("ProxyAuthLDAP On\nProxyAuthLDAPURL \"$LDAPS\"\n"
                 . 'ProxyAuthLDAPVerifyServerCert Off'),
      ok => 1, like => [qr/PAL0004/, qr/ProxyAuthLDAPVerifyServerCert/]);
check('VerifyServerCert Off with StartTLS: Syntax OK + PAL0004',
      proxy_conf("ProxyAuthLDAP On\nProxyAuthLDAPURL \"$URL\"\n"
                 . "ProxyAuthLDAPStartTLS On\nProxyAuthLDAPVerifyServerCert Off"),
      ok => 1, like => [qr/PAL0004/, qr/ProxyAuthLDAPVerifyServerCert/]);
check('VerifyServerCert Off inherited from the server level: PAL0004',
      proxy_conf("ProxyAuthLDAP On\nProxyAuthLDAPURL \"$LDAPS\"",
                 "ProxyAuthLDAPVerifyServerCert Off\n"),
      ok => 1, like => [qr/PAL0004/]);
check('VerifyServerCert On (and default) with ldaps: no PAL0004',
      proxy_conf("ProxyAuthLDAP On\nProxyAuthLDAPURL \"$LDAPS\"\n"
                 . "ProxyAuthLDAPVerifyServerCert On\n"
                 . "ProxyAuthLDAPCACertificate \"$ca_file\""),
      ok => 1, unlike => [qr/PAL0004/]);

# ---------------------------------------------------------------------------
# The bind password never appears in an error message.

my $SECRET = 'Zq9-PAL70-l3ak-Probe';
my $secret_file_pw = write_file('leak-pw', "$SECRET\n");
my @leaks = (
    ['inline, in <Location>',
     "<Location \"/\">\nProxyAuthLDAPBindPassword $SECRET\n</Location>\n"],
    ['inline, in <Directory>',
     "<Directory \"/\">\nProxyAuthLDAPBindPassword \"$SECRET\"\n</Directory>\n"],
    ['inline, with an extra argument',
     proxy_conf("ProxyAuthLDAPBindPassword $SECRET extra")],
    ['inline, On without URL',
     proxy_conf("ProxyAuthLDAP On\nProxyAuthLDAPBindDN \"cn=proxy-svc,dc=example,dc=test\"\n"
                . "ProxyAuthLDAPBindPassword $SECRET")],
    ['inline, then a bad BindDN',
     proxy_conf("ProxyAuthLDAPBindPassword $SECRET\nProxyAuthLDAPBindDN \"not a dn\"")],
    ['inline, then a bad URL',
     proxy_conf("ProxyAuthLDAPBindPassword $SECRET\nProxyAuthLDAPURL \"ldap://h/dc=x?uid?base\"")],
    ['exec: program printing it, then failing',
     proxy_conf("ProxyAuthLDAPBindPassword \"exec:/bin/sh -c 'echo $SECRET; exit 3'\"")],
    ['file:, then On without URL',
     proxy_conf("ProxyAuthLDAP On\nProxyAuthLDAPBindDN \"cn=proxy-svc,dc=example,dc=test\"\n"
                . "ProxyAuthLDAPBindPassword \"file:$secret_file_pw\"")],
    ['file:, in <Files>',
     "<Files \"x\">\nProxyAuthLDAPBindPassword \"file:$secret_file_pw\"\n</Files>\n"],
);
for my $c (@leaks) {
    my ($what, $conf) = @$c;
    check("bind password not echoed: $what", $conf,
          ok => 0, unlike => [qr/\Q$SECRET\E/]);
}

done_testing();
