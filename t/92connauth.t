# ProxyAuthConnectionAuth (SPEC "Details that users will rely on"): a failed
# authentication on a connection ends its identity, and a request that
# carries Proxy-Authorization, whatever its value (empty, white space), is
# validated on its own and never falls back to the connection's identity.
#
# Scope /s/rg-conn/ of t/conf/regressions.conf.in (ConnectionAuth On, a realm
# of its own, the fixture slapd). Each case runs on one keep-alive
# connection; LWP's Client-Response-Num shows that it stayed one.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use PALTest;
use PALRegress;
use HTTP::Request;
use Time::HiRes qw(time);

plan tests => 15;

my $origin = origin_hostport();
my $run = "$$-" . int(time);
my $seq = 0;

# GET /s/rg-conn/ on $ua's connection; $auth: [user, password], a raw
# Proxy-Authorization value, or undef for none. Returns (response, tag).
sub req {
    my ($ua, $auth) = @_;
    my $tag = 'ca' . ++$seq . "-$run";
    my @h;
    push @h, 'Proxy-Authorization' => (ref $auth ? basic(@$auth) : $auth) if defined $auth;
    my $r = $ua->request(HTTP::Request->new(GET => "http://$origin/s/rg-conn/index.html?$tag", \@h));
    return ($r, $tag);
}

sub what {
    my ($r, $tag) = @_;
    my $e = access_note($tag);
    return $r->status_line . ' (access log: ' . (@$e ? "@$e" : 'none') . ', response '
         . ($r->header('Client-Response-Num') // '?') . ' on its connection)';
}

# A new connection authenticated as alice (200), and the connection's
# identity in use: returns the user agent holding it.
sub authenticated {
    my ($name) = @_;
    my $ua = proxy_ua(keep_alive => 1);
    my ($r, $tag) = req($ua, ['alice', 'alice-secret']);
    is $r->code, 200, "$name: alice with credentials: 200" or diag what($r, $tag);
    return $ua;
}

# The control: without credentials, the connection's identity is used.
{
    my $ua = authenticated('control');
    my ($r, $tag) = req($ua, undef);
    is $r->code, 200, 'control: same connection, no Proxy-Authorization: 200' or diag what($r, $tag);
    is access_note($tag)->[1], 'connection', 'control: access log note "connection"';
}

# A failed authentication ends the connection's identity.
{
    my $ua = authenticated('failed');
    my ($r, $tag) = req($ua, ['alice', "wrong-$run"]);
    is $r->code, 407, 'failed: same connection, wrong password: 407' or diag what($r, $tag);
    ($r, $tag) = req($ua, undef);
    is $r->code, 407, 'failed: then no Proxy-Authorization: 407 (the failure ended the identity)'
        or diag what($r, $tag);
    is $r->header('Client-Response-Num'), 3, 'failed: the three requests used one connection';
}

# Proxy-Authorization holding only white space, and empty: validated on their
# own (407), not the connection's identity.
for my $case (['white space', " \t "], ['empty', '']) {
    my ($name, $value) = @$case;
    my $ua = authenticated($name);
    my ($r, $tag) = req($ua, $value);
    is $r->code, 407, "$name: same connection, Proxy-Authorization of $name: 407"
        or diag what($r, $tag);
    ok defined $r->header('Proxy-Authenticate'), "$name: the 407 carries the challenge";
    is $r->header('Client-Response-Num'), 2, "$name: the two requests used one connection";
}
