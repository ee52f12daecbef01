# Require proxy-ldap-group: membership by member / uniqueMember, DN comparison,
# ProxyAuthLDAPGroupAttribute, <RequireAny>, several groups on one line, a
# group line in a section without any ProxyAuth* directive, 403 versus 407,
# and the LDAP operations one group request costs (cn=Monitor).
# Scopes: t/conf/extra.conf.in and t/conf/headers.conf.in.
use strict;
use warnings;
use utf8;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use PALTest;
use Time::HiRes qw(sleep time);

plan tests => 81;

my $origin = origin_hostport();
my $REALM  = 'Basic realm="Test proxy", charset="UTF-8"';
my %pw = (alice => 'alice-secret', bob => 'bob-secret', carol => 'carol-secret',
          'jürgen' => 'pässwörd');

my $seq = 0;
sub url {
    my ($scope) = @_;
    return sprintf 'http://%s/s/%s/index.html?grp-%d-%d-%d', $origin, $scope, $$, time, ++$seq;
}

sub get_as {
    my ($scope, $user, $pass) = @_;
    my $u = url($scope);
    my $r = proxy_request(GET => $u, defined $user
        ? ('Proxy-Authorization' => basic($user, $pass // $pw{$user})) : ());
    return wantarray ? ($r, $u) : $r;
}

# The proxy's pal_access_log line for the request to $url: { user, status, result, dn }.
my $access_log = Apache::Test::vars('t_logs') . '/pal_access_log';
sub access_entry {
    my ($url) = @_;
    my $deadline = time + 5;
    while (1) {
        if (open my $fh, '<', $access_log) {
            while (my $l = <$fh>) {
                next unless index($l, " \"GET $url ") >= 0;
                chomp $l;
                return { line => $l } unless
                    $l =~ /^(\S+) (\S+) (\d+) "(.*)" (\S+) "(.*)"$/;
                return { line => $l, user => $2, status => $3, result => $5, dn => $6 };
            }
        }
        return undef if time > $deadline;
        sleep 0.05;
    }
}

# A 403 for a group is final: no challenge that would make a browser ask again.
sub is_group_denied {
    my ($r, $what) = @_;
    is $r->code, 403, "$what: 403";
    ok !defined $r->header('Proxy-Authenticate'), "$what: no Proxy-Authenticate";
}

# ---------------------------------------------------------------------------
# groupOfNames / member
for my $user ('alice', 'bob', 'jürgen') {
    my $r = get_as(group => $user);
    is $r->code, 200, "group proxy-users: $user 200";
}
{
    my ($r, $u) = get_as(group => 'carol');
    is_group_denied($r, 'group proxy-users: carol (not a member)');
    ok !defined $r->header('WWW-Authenticate'), 'group: carol: no WWW-Authenticate';
    my $e = access_entry($u);
    is $e && $e->{user}, 'carol', 'group: the 403 is logged with %u = carol';
    is $e && $e->{result}, 'denied', 'group: the 403 has proxyauth-result denied';
    is $e && $e->{dn}, 'uid=carol,ou=staff,dc=example,dc=test', 'group: the 403 has proxyauth-dn';
}
{
    my $r = get_as(group => 'nobody-here', 'x');
    is $r->code, 407, 'group: unknown user: 407';
    $r = get_as('group');
    is $r->code, 407, 'group: no credentials: 407';
    is $r->header('Proxy-Authenticate'), $REALM, 'group: no credentials: Proxy-Authenticate';
}

# groupOfUniqueNames / uniqueMember, group DN written with odd case and spaces
{
    my ($r, $u) = get_as(admins => 'alice');
    is $r->code, 200, 'admins (odd DN spelling, uniqueMember): alice 200';
    my $e = access_entry($u);
    is $e && $e->{user}, 'alice', 'admins: %u = alice';
    is_group_denied(get_as(admins => 'bob'), 'admins: bob');
    is_group_denied(get_as(admins => 'carol'), 'admins: carol');
}

# ProxyAuthLDAPGroupAttribute uniqueMember only; proxy-users lists member
{
    is_group_denied(get_as(groupattr => 'alice'), 'groupattr (uniqueMember only): alice');
    is_group_denied(get_as(groupattr => 'bob'), 'groupattr: bob');
}

# <RequireAny> of two Require proxy-ldap-group lines
{
    is get_as(anygroup => 'alice')->code, 200, 'anygroup: alice (admins) 200';
    is get_as(anygroup => 'carol')->code, 200, 'anygroup: carol (empty-ish) 200';
    is_group_denied(get_as(anygroup => 'bob'), 'anygroup: bob (neither)');
    is_group_denied(get_as(anygroup => 'jürgen'), 'anygroup: jürgen (neither)');
}

# Two groups on one Require line (headers.conf.in)
{
    is get_as('hd-multi' => 'alice')->code, 200, 'hd-multi: alice (admins) 200';
    is get_as('hd-multi' => 'carol')->code, 200, 'hd-multi: carol (empty-ish) 200';
    is_group_denied(get_as('hd-multi' => 'bob'), 'hd-multi: bob (neither)');
}

# A <ProxyMatch> with only a Require proxy-ldap-group line, no ProxyAuth*
# directive: the inherited ProxyAuthLDAP On resolves its group.
{
    my $mark = error_log_mark();
    my $r = get_as('hd-grouponly' => 'alice');
    is $r->code, 200, 'group-only section: alice (member) 200';
    is get_as('hd-grouponly' => 'jürgen')->code, 200, 'group-only section: jürgen (member) 200';
    is_group_denied(get_as('hd-grouponly' => 'carol'), 'group-only section: carol (not a member)');
    is get_as('hd-grouponly')->code, 407, 'group-only section: no credentials 407';
    sleep 0.2;
    unlike error_log_since($mark), qr/PAL0301|was not resolved/,
        'group-only section: the group was resolved (no PAL0301 in the error log)';
}

# A group that does not exist: nobody is a member, and it is not an outage.
{
    my $r = get_as('hd-nogroup' => 'alice');
    is_group_denied($r, 'hd-nogroup (group entry missing): alice');
}

# ---------------------------------------------------------------------------
# LDAP operations of one group request: 1 search for the user, 1 search per
# group named in the scope's Require lines, 1 bind (the user's). Fresh users
# (below a new ou=hd-count) so no cached session can answer instead of LDAP;
# a warm-up request on the same keep-alive connection opens the pooled LDAP
# connection (and its one-time service bind) in the child that serves it.
my $ldap = ldap_admin();
my $OU   = 'ou=hd-count,dc=example,dc=test';
my $GRP  = 'cn=hd-count,ou=groups,dc=example,dc=test';
my $tag  = "hdc$$";
my %fresh = map { ($_ => "$tag-$_") } qw(a b c d);
$fresh{paren} = "$tag-p(x)*\\";    # filter metacharacters in the DN
my @created;

# RFC 4514: the characters of an attribute value that a DN string escapes.
sub dn_escape {
    my ($v) = @_;
    $v =~ s/([\\,+"<>;=])/\\$1/g;
    return $v;
}

sub ldap_ok {
    my ($m, $what) = @_;
    die "80groups: $what: " . $m->error . "\n" if $m->code;
}
END {
    if ($ldap) {
        $ldap->delete($_) for reverse @created;
        $ldap->unbind;
    }
}
{
    for my $dn ($GRP, (map { 'uid=' . dn_escape($_) . ",$OU" } values %fresh), $OU) {
        $ldap->delete($dn);    # leftovers of an interrupted run of this file
    }
    ldap_ok($ldap->add($OU, attrs => [objectClass => 'organizationalUnit', ou => 'hd-count']),
            "add $OU");
    push @created, $OU;
    for my $k (sort keys %fresh) {
        my $dn = 'uid=' . dn_escape($fresh{$k}) . ",$OU";
        ldap_ok($ldap->add($dn, attrs => [objectClass => 'inetOrgPerson', uid => $fresh{$k},
                                          cn => $fresh{$k}, sn => 'Count',
                                          userPassword => "$fresh{$k}-pw"]), "add $dn");
        push @created, $dn;
    }
    ldap_ok($ldap->add($GRP, attrs => [objectClass => 'groupOfNames', cn => 'hd-count',
                                       member => ["uid=$fresh{a},$OU",
                                                  'uid=' . dn_escape($fresh{paren}) . ",$OU",
                                                  'cn=Doe\\, John,ou=people,dc=example,dc=test',
                                                  'uid=star*user,ou=people,dc=example,dc=test']]),
            "add $GRP");
    push @created, $GRP;
}

my $ua = proxy_ua(keep_alive => 1);
sub client_port {
    my @c = $ua->conn_cache ? $ua->conn_cache->get_connections : ();
    return @c == 1 ? $c[0]->sockport : undef;
}
sub ka_get {
    my ($scope, $user, $pass) = @_;
    return $ua->get(url($scope), 'Proxy-Authorization' => basic($user, $pass));
}

my $r = ka_get('hd-count', "$tag-nobody", 'whatever');
is $r->code, 407, 'warm-up on the keep-alive connection (unknown user): 407';
my $port = client_port();
ok $port, 'warm-up: the connection to the proxy is kept open';

my @cases = (
    # scope, user, expected status, groups in the scope's Require lines
    ['hd-count', 'a', 200, 2, 'two Require lines, member of the first'],
    ['anygroup', 'b', 403, 2, '<RequireAny> of two groups, member of neither'],
    ['group',    'c', 403, 1, 'one group, not a member'],
    ['hd-multi', 'd', 403, 2, 'two groups on one line, member of neither'],
);
for my $case (@cases) {
    my ($scope, $k, $status, $ngroups, $what) = @$case;
    my $c0 = monitor_counts();
    my $r = ka_get($scope, $fresh{$k}, "$fresh{$k}-pw");
    my $c1 = monitor_counts();
    is $r->code, $status, "count /s/$scope/ ($what): $status";
    is client_port() // 0, $port, "count /s/$scope/: same keep-alive connection";
    is $c1->{search} - $c0->{search}, 1 + $ngroups,
        "count /s/$scope/: 1 user search + $ngroups group search(es)";
    is $c1->{bind} - $c0->{bind}, 1, "count /s/$scope/: exactly 1 bind (the user's)";
}

# Members whose DN holds characters that a search filter must escape
# (RFC 4515): the group filter (member=<user DN>) must still match exactly.
{
    is get_as('hd-count' => 'spaced name', 'spaced-secret')->code, 200,
        'hd-count: member "cn=Doe\, John,..." (escaped comma in the DN) 200';
    is get_as('hd-count' => 'star*user', 'star-secret')->code, 200,
        'hd-count: member uid=star*user (asterisk in the DN) 200';
    is_group_denied(get_as('hd-count' => 'starbuser', 'starb-secret'),
        'hd-count: starbuser (not a member; its name differs from star*user by the *)');
    is get_as('hd-count' => $fresh{paren}, "$fresh{paren}-pw")->code, 200,
        'hd-count: member with ( ) * \\ in its uid 200';
    is_group_denied(get_as('hd-count' => 'bob'), 'hd-count: bob (in neither group)');
}

# ---------------------------------------------------------------------------
# Wrong passwords last, one and the same per account: ProxyAuthMaxBadPasswords
# counts distinct wrong passwords per account, and the members must not be
# soft-locked while the tests above still need them. A wrong password is a 407
# whatever the groups say: the challenge comes before authorization.
for my $case (['group', 'alice'], ['group', 'jürgen'], ['group', 'carol'],
              ['admins', 'bob'], ['groupattr', 'alice'], ['anygroup', 'bob'],
              ['hd-grouponly', 'alice'], ['hd-nogroup', 'alice']) {
    my ($scope, $user) = @$case;
    my $r = get_as($scope => $user, 'wrong-pw');
    is $r->code, 407, "$scope: $user with a wrong password: 407";
    is $r->header('Proxy-Authenticate'), $REALM, "$scope: $user wrong password: Proxy-Authenticate";
}
