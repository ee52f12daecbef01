# The cache context includes the TLS settings (SPEC "Details that users will
# rely on": a cached pair is valid only for the directory context that
# validated it, StartTLS, VerifyServerCert and CA file included), so a session
# made where the server certificate was not checked is never accepted where
# it must be.
#
# Scopes of t/conf/regressions.conf.in on a slapd of this file (SPARE10
# pair), two pairs with the same realm and URL each:
#   /s/rg-tls-noverify/  ldaps://, wrong CA, VerifyServerCert Off: works
#   /s/rg-tls-verify/    ldaps://, wrong CA, verified: every LDAP attempt fails
#   /s/rg-stls-plain/    ldap:// without TLS: works
#   /s/rg-stls-wrongca/  ldap:// + StartTLS On, wrong CA: every LDAP attempt fails
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use PALTest;
use PALRegress;
use Time::HiRes qw(time);

plan tests => 8;

my $origin = origin_hostport();
my $run = "$$-" . int(time);
my $seq = 0;

my $slapd = slapd_start(ports => { ldap  => $ENV{PAL_LDAP_SPARE10_PORT},
                                   ldaps => $ENV{PAL_LDAPS_SPARE10_PORT} });

# GET /s/SCOPE/ as $user -> (response, access-log [status, note, user])
sub get {
    my ($scope, $user) = @_;
    my $tag = 'tc' . ++$seq . "-$run";
    my $r = proxy_request(GET => "http://$origin/s/$scope/index.html?$tag",
                          'Proxy-Authorization' => basic($user, "$user-secret"));
    return ($r, access_note($tag));
}

for my $pair (['rg-tls-noverify', 'rg-tls-verify', 'ldaps:// verified against the wrong CA'],
              ['rg-stls-plain', 'rg-stls-wrongca', 'StartTLS verified against the wrong CA']) {
    my ($lax, $strict, $what) = @$pair;
    my ($r, $e) = get($lax, 'alice');
    is "@$e[0,1]", '200 ldap', "/s/$lax/: alice validated by LDAP" or diag $r->status_line;
    ($r, $e) = get($strict, 'alice');
    is $r->code, 503, "/s/$strict/ ($what, same realm and URL): alice's session from /s/$lax/ "
                    . 'is not accepted: 503'
        or diag 'got ' . $r->status_line . ', access log: ' . join(' ', @$e);
    ok !defined $r->header('Proxy-Authenticate'), "/s/$strict/: no challenge on that answer";
    # The control: this scope cannot validate anyone.
    ($r) = get($strict, 'bob');
    is $r->code, 503, "/s/$strict/: bob, never validated: 503";
}

slapd_stop($slapd);
