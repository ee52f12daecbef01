# CONNECT tunnels (mod_proxy_connect) behind the module: the <Proxy "*"> scope
# (realm "Test proxy") challenges a CONNECT like any forward-proxy request;
# AllowCONNECT allows the origin's port.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use PALTest;
use IO::Select;
use Time::HiRes qw(sleep time);

plan tests => 21;

my $origin = origin_hostport();
my $CHALLENGE = 'Basic realm="Test proxy", charset="UTF-8"';
my $run = "$$-" . int(time);
my $access_log = Apache::Test::vars('t_logs') . '/pal_access_log';

# Reads what the server sends until it closes or $secs pass.
sub read_all {
    my ($sock, $secs) = @_;
    my $buf = '';
    my $sel = IO::Select->new($sock);
    my $deadline = time + ($secs // 10);
    while (1) {
        my $left = $deadline - time;
        last if $left <= 0 || !$sel->can_read($left);
        my $n = sysread $sock, my $chunk, 65536;
        last unless $n;
        $buf .= $chunk;
    }
    return $buf;
}

# Number of access-log lines for "CONNECT $origin" with this status (the
# tunnel's line is written when the tunnel closes).
sub connect_lines {
    my ($status) = @_;
    open my $fh, '<', $access_log or return ();
    return grep { /^\S+ \S+ $status "CONNECT \Q$origin\E HTTP\/1\.1" / } <$fh>;
}

sub wait_lines {
    my ($status, $n) = @_;
    my $deadline = time + 5;
    my @l;
    while (1) {
        @l = connect_lines($status);
        return @l if @l >= $n || time > $deadline;
        sleep 0.05;
    }
}

# Without credentials: 407 with the challenge, no tunnel.
{
    my ($status, $hdr, $sock) = connect_tunnel($origin);
    like $status // '', qr{^HTTP/1\.[01] 407 }, 'CONNECT without credentials: 407';
    my @pa = $hdr->header('Proxy-Authenticate');
    is_deeply \@pa, [$CHALLENGE], 'CONNECT without credentials: exactly the Proxy-Authenticate challenge';
    # whatever follows is the error body, never the origin
    print {$sock} "GET /index.html HTTP/1.0\r\nHost: $origin\r\n\r\n";
    my $rest = read_all($sock, 5);
    unlike $rest, qr/origin-ok/, 'CONNECT 407: no tunnel to the origin';
    close $sock;
}

# Wrong password, unknown user, malformed: 407.
{
    my @cases = (
        ['wrong password',  basic('bob', "wrong-$run")],
        ['unknown user',    basic("nosuch-$run", "pw-$run")],
        ['empty password',  basic('alice', '')],
        ['other scheme',    'Bearer ' . substr(basic('alice', 'alice-secret'), 6)],
    );
    for (@cases) {
        my ($what, $h) = @$_;
        my ($status, $hdr, $sock) = connect_tunnel($origin, 'Proxy-Authorization' => $h);
        like $status // '', qr{^HTTP/1\.[01] 407 }, "CONNECT with $what: 407";
        my @pa = $hdr->header('Proxy-Authenticate');
        is_deeply \@pa, [$CHALLENGE], "CONNECT with $what: Proxy-Authenticate";
        close $sock;
    }
    my @l = wait_lines(407, 5);
    ok @l >= 5 && !grep({ !/ denied "-"$/ } @l), 'CONNECT 407s: access log note "denied"'
        or diag @l;
}

# alice: 200, and a request through the tunnel reaches the origin.
{
    my ($status, $hdr, $sock) = connect_tunnel($origin,
        'Proxy-Authorization' => basic('alice', 'alice-secret'));
    like $status // '', qr{^HTTP/1\.[01] 200 }, 'CONNECT as alice: 200';
    ok !defined $hdr->header('Proxy-Authenticate'), 'CONNECT 200: no Proxy-Authenticate';
    print {$sock} "GET /index.html HTTP/1.1\r\nHost: $origin\r\nConnection: close\r\n\r\n";
    my $resp = read_all($sock, 10);
    like $resp, qr{^HTTP/1\.1 200 }, 'through the tunnel: origin answers 200';
    like $resp, qr/\r\n\r\norigin-ok\n/, 'through the tunnel: body origin-ok';
    # the origin sees no Proxy-Authorization (it never gets the CONNECT's headers)
    like $resp, qr/^X-Seen-Proxy-Authorization: ?\r?$/mi,
        'through the tunnel: no Proxy-Authorization at the origin';
    close $sock;
    my @l = wait_lines(200, 1);
    # (t/10status.t validated this pair just before: "ldap", or "cache" once cached)
    like $l[-1] // '', qr{^127\.0\.0\.1 alice 200 "CONNECT \Q$origin\E HTTP/1\.1" (?:ldap|cache) "uid=alice,ou=people,dc=example,dc=test"$},
        'CONNECT as alice: access log %u alice, authenticated, DN';
}

# The tunnel carries several requests (keep-alive to the origin) and the
# client may close first.
{
    my ($status, $hdr, $sock) = connect_tunnel($origin,
        'Proxy-Authorization' => basic('ALICE', 'alice-secret'));
    like $status // '', qr{^HTTP/1\.[01] 200 }, 'CONNECT as ALICE: 200';
    print {$sock} "GET /small.txt HTTP/1.1\r\nHost: $origin\r\n\r\n"
                . "GET /index.html HTTP/1.1\r\nHost: $origin\r\nConnection: close\r\n\r\n";
    my $resp = read_all($sock, 10);
    my @st = $resp =~ m{^HTTP/1\.1 (\d{3}) }mg;
    is_deeply \@st, [200, 200], 'two requests through one tunnel: 200, 200';
    like $resp, qr/origin-ok/, 'second request through the tunnel: origin-ok';
    close $sock;
}
