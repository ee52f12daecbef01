# The Require providers that mod_authnz_ldap users bring with them (SPEC
# "Directives", the Require list): proxy-ldap-user, -dn, -attribute,
# -filter beside -group, each allowed and denied; combined with
# <RequireAll>/<RequireAny>/<RequireNone>, Require ip, valid-user and
# groups; conditions of two <Proxy> scopes of one request both checked; the
# results cached (no LDAP operation on the second request, cn=Monitor); the
# directory down (503 for an uncached user, 200 for a cached one); a bad
# filter or DN is a startup error naming the line.
#
# A slapd of its own (the users below, with employeeType and
# departmentNumber) and a proxy of its own (httpd_start), one
# <Proxy "http://ORIGIN/s/NAME/*"> scope per case, each with its own realm.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use PALTest;
use Time::HiRes qw(sleep time);

my $B = 'dc=example,dc=test';
my %pw = (ann => 'ann-secret', ben => 'ben-secret', cat => 'cat-secret',
          dan => 'dan-secret');
my %attrs = (
    ann => "employeeType: staff\ndepartmentNumber: 42\n",
    ben => "employeeType: contractor\ndepartmentNumber: 42\n",
    cat => "employeeType: staff\ndepartmentNumber: 7\n",
    dan => "employeeType: intern\n",
);
my $ldif = <<"EOL";
dn: $B
objectClass: dcObject
objectClass: organization
dc: example
o: Example Test

dn: ou=people,$B
objectClass: organizationalUnit
ou: people

dn: ou=groups,$B
objectClass: organizationalUnit
ou: groups

dn: cn=proxy-svc,$B
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: proxy-svc
userPassword: svc-secret

dn: cn=web,ou=groups,$B
objectClass: groupOfNames
cn: web
member: uid=ann,ou=people,$B
member: uid=ben,ou=people,$B

EOL
for my $u (sort keys %pw) {
    $ldif .= "dn: uid=$u,ou=people,$B\nobjectClass: inetOrgPerson\nuid: $u\ncn: $u\nsn: $u\n"
           . "userPassword: $pw{$u}\n$attrs{$u}\n";
}
my $seed = "$ENV{PAL_TMP}/require-seed-$$.ldif";
open my $fh, '>', $seed or die "$seed: $!";
print $fh $ldif;
close $fh;
my $slapd = slapd_start(seed => $seed, tls => 0);
my $origin = origin_hostport();
my $URL = "ldap://127.0.0.1:$slapd->{ldap_port}/ou=people,$B?uid?one";
my $WEB = "cn=web,ou=groups,$B";

sub scope {
    my ($name, @lines) = @_;
    return join "\n", qq{<Proxy "http://$origin/s/$name/*">},
        qq{    ProxyAuthRealm "Require $name"}, map({ "    $_" } @lines), '</Proxy>', '';
}
my $conf = <<"EOC"
LogFormat "%h %u %>s \\"%r\\" %{proxyauth-result}n" reqfmt
CustomLog "\@DIR\@/access_log" reqfmt
ProxyRequests On
ProxyVia Off
<Proxy "*">
    ProxyAuthLDAP On
    ProxyAuthLDAPURL "$URL"
    ProxyAuthLDAPBindDN cn=proxy-svc,$B
    ProxyAuthLDAPBindPassword svc-secret
</Proxy>
EOC
  . scope('user',  'Require proxy-ldap-user ann BEN')
  . scope('dn',    qq{Require proxy-ldap-dn "UID=ann, ou=People,$B"})
  . scope('attr',  'Require proxy-ldap-attribute employeeType=staff departmentNumber=7')
  . scope('filter', 'Require proxy-ldap-filter "(&(employeeType=staff)(!(departmentNumber=7)))"')
  . scope('all',   '<RequireAll>', qq{    Require proxy-ldap-group "$WEB"},
          '    Require proxy-ldap-attribute employeeType=staff', '</RequireAll>')
  . scope('any',   '<RequireAny>', '    Require proxy-ldap-user dan',
          '    Require proxy-ldap-filter "(departmentNumber=7)"', '</RequireAny>')
  . scope('none',  '<RequireAll>', '    Require valid-user', '    <RequireNone>',
          '        Require proxy-ldap-attribute employeeType=contractor', '    </RequireNone>',
          '</RequireAll>')
  . scope('ip',    '<RequireAny>', '    Require ip 127.0.0.1',
          '    Require proxy-ldap-user nobody-here', '</RequireAny>')
  . scope('ipnot', '<RequireAny>', '    Require ip 192.0.2.1',
          '    Require proxy-ldap-user ann', '</RequireAny>')
  . scope('cache', 'Require proxy-ldap-attribute departmentNumber=42')
  . qq{<ProxyMatch "^http://[^/]+/s/two/">\n    Require proxy-ldap-attribute departmentNumber=42\n</ProxyMatch>\n}
  . scope('two', 'AuthMerging And', 'Require proxy-ldap-filter "(employeeType=staff)"');

my $h = httpd_start(conf => $conf);
$PALTest::PROXY_HOSTPORT = "127.0.0.1:$h->{port}";

my $seq = 0;
sub get_as {
    my ($scope, $user) = @_;
    my $u = sprintf 'http://%s/s/%s/index.html?req-%d-%d', $origin, $scope, $$, ++$seq;
    my $r = proxy_request(GET => $u, defined $user ? ('Proxy-Authorization' => basic($user, $pw{$user})) : ());
    return ($r, $u);
}
sub access_line {
    my ($url) = @_;
    my $deadline = time + 5;
    while (time < $deadline) {
        open my $fh, '<', "$h->{dir}/access_log" or last;
        while (my $l = <$fh>) { chomp $l; return $l if index($l, " \"GET $url ") >= 0 }
        sleep 0.05;
    }
    return 'none';
}
sub code_is {
    my ($scope, $user, $want, $name) = @_;
    my ($r, $u) = get_as($scope, $user);
    is $r->code, $want, $name or diag $r->status_line . ' (access log: ' . access_line($u) . ')';
    return $r;
}

# Each provider, allowed and denied.
code_is('user', 'ann', 200, 'proxy-ldap-user: ann listed: 200');
code_is('user', 'ben', 200, 'proxy-ldap-user: BEN listed, compared without case: 200');
code_is('user', 'cat', 403, 'proxy-ldap-user: cat not listed: 403');
code_is('user', undef, 407, 'proxy-ldap-user: no credentials: 407');
code_is('dn', 'ann', 200, 'proxy-ldap-dn: the DN, spelt otherwise: 200');
code_is('dn', 'ben', 403, 'proxy-ldap-dn: another DN: 403');
code_is('attr', 'ann', 200, 'proxy-ldap-attribute: employeeType=staff: 200');
code_is('attr', 'cat', 200, 'proxy-ldap-attribute: departmentNumber=7 (the second): 200');
code_is('attr', 'ben', 403, 'proxy-ldap-attribute: neither: 403');
code_is('filter', 'ann', 200, 'proxy-ldap-filter: staff outside department 7: 200');
code_is('filter', 'cat', 403, 'proxy-ldap-filter: staff in department 7: 403');
code_is('filter', 'ben', 403, 'proxy-ldap-filter: contractor: 403');

# Composition.
code_is('all', 'ann', 200, 'RequireAll group + attribute: ann meets both: 200');
code_is('all', 'ben', 403, 'RequireAll: ben in the group, not staff: 403');
code_is('all', 'cat', 403, 'RequireAll: cat staff, not in the group: 403');
code_is('any', 'dan', 200, 'RequireAny user | filter: dan by name: 200');
code_is('any', 'cat', 200, 'RequireAny: cat by the filter: 200');
code_is('any', 'ann', 403, 'RequireAny: ann neither: 403');
code_is('none', 'ann', 200, 'RequireNone contractor: ann: 200');
code_is('none', 'ben', 403, 'RequireNone contractor: ben: 403');
code_is('ip', undef, 200, 'RequireAny ip | user: from 127.0.0.1 without credentials: 200');
code_is('ipnot', 'ann', 200, 'RequireAny other ip | user: ann: 200');
code_is('ipnot', 'cat', 403, 'RequireAny other ip | user: cat: 403');
code_is('ipnot', undef, 407, 'RequireAny other ip | user: no credentials: 407');

# Two scopes of one request (the later one with AuthMerging And, httpd's way
# of combining them): both conditions are resolved and checked.
code_is('two', 'ann', 200, 'two scopes: ann staff and department 42: 200');
code_is('two', 'cat', 403, 'two scopes: cat staff, department 7: 403');
code_is('two', 'ben', 403, 'two scopes: ben department 42, contractor: 403');

# Cached: the second request costs no LDAP operation.
{
    code_is('cache', 'ann', 200, 'cache: ann first: 200');
    my $c0 = monitor_counts($slapd->{ldap_port});
    code_is('cache', 'ann', 200, 'cache: ann again: 200');
    code_is('cache', 'cat', 403, 'cache: cat first: 403');
    my $c1 = monitor_counts($slapd->{ldap_port});
    code_is('cache', 'cat', 403, 'cache: cat again: 403');
    my $c2 = monitor_counts($slapd->{ldap_port});
    is $c1->{search} - $c0->{search}, 2, 'ann again: no search; cat first: user search + condition';
    is $c2->{search} - $c1->{search}, 0, 'cat again (403 from the cached result): no search';
    is $c2->{bind} - $c0->{bind}, 1, 'one bind in all (cat\'s first)';
}

# The directory down: cached 200, uncached 503 (never 500).
{
    slapd_stop($slapd);
    code_is('cache', 'ann', 200, 'slapd stopped: ann cached: 200');
    code_is('attr', 'dan', 503, 'slapd stopped: dan not cached: 503');
    code_is('filter', 'ann', 200, 'slapd stopped: ann cached in the filter scope: 200');
}

# Startup errors name the line.
{
    my $base = qq{<Proxy "*">\n ProxyAuthLDAP On\n ProxyAuthLDAPURL "$URL"\n};
    for my $c (
        ['Require proxy-ldap-filter "(employeeType=staff"', qr/line \d+.*proxy-ldap-filter "\(employeeType=staff": not an RFC 4515 filter: the filter ends inside a value/s, 'unclosed filter'],
        ['Require proxy-ldap-filter "(a=1)" "(b=2)"', qr/takes one filter/, 'two filters'],
        ['Require proxy-ldap-filter', qr/needs a filter/, 'no filter'],
        ['Require proxy-ldap-attribute employeeType', qr/"employeeType" is not attribute=value/, 'attribute without value'],
        ['Require proxy-ldap-attribute "bad type=x"', qr/proxy-ldap-attribute/, 'bad attribute type'],
        ['Require proxy-ldap-dn "not a dn"', qr/proxy-ldap-dn: "not a dn" is not a DN/, 'bad DN'],
        ['Require proxy-ldap-user', qr/needs at least one user name/, 'no user'],
    ) {
        my ($code, $out) = httpd_configtest("$base $c->[0]\n</Proxy>\n");
        isnt $code, 0, "apache2 -t fails: $c->[2]";
        like $out, $c->[1], "and says why: $c->[2]";
    }
}

is httpd_stop($h), 0, 'the proxy exits 0 on SIGTERM' or diag "httpd: $h->{status_text}";
done_testing();
