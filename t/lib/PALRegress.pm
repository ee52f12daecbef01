package PALRegress;

# Helpers shared by the regression files (t/51restart.t, t/52poolwait.t,
# t/62diag.t, t/63tlsctx.t, t/81bigentry.t, t/91softlock.t, t/92connauth.t,
# t/93spray.t, t/94redisgets.t): requests that reach the proxy at the same
# instant, the result notes of the access log, the LDAP server states of the
# status page, and two stand-ins for a directory (t/lib/slow_relay.pl,
# t/lib/hostile_ldap.pl).

use strict;
use warnings;

use Exporter 'import';
use Carp qw(croak);
use File::Basename qw(dirname);
use File::Spec;
use IO::Select;
use IO::Socket::INET;
use LWP::UserAgent;
use Time::HiRes qw(sleep time);
use PALTest qw(proxy_hostport);

our @EXPORT = qw(raw_get simultaneous access_note ldap_server_states user_binds
                 relay_start relay_no_delay responder_start helper_stop);

my $LIB = dirname(File::Spec->rel2abs(__FILE__));

# raw_get($url, %headers) -> the text of an HTTP/1.1 proxy request for $url,
# Connection: close.
sub raw_get {
    my ($url, %h) = @_;
    my ($host) = $url =~ m{^https?://([^/]+)} or croak "raw_get: $url";
    my $req = "GET $url HTTP/1.1\r\nHost: $host\r\n";
    $req .= "$_: $h{$_}\r\n" for sort keys %h;
    return $req . "Connection: close\r\n\r\n";
}

# simultaneous(\@requests, %opts) -> list of status codes ('none' when no
# response head came). Every connection is opened first and every request is
# written afterwards in one tight loop, so they reach the proxy within
# microseconds of each other: the closest a test gets to "at the same
# instant". Options: hostport (default the suite's proxy), timeout (30 s).
sub simultaneous {
    my ($reqs, %o) = @_;
    my ($host, $port) = split /:(?=\d+$)/, $o{hostport} // proxy_hostport();
    my @socks;
    for (@$reqs) {
        my $s = IO::Socket::INET->new(PeerAddr => $host, PeerPort => $port,
                                      Proto => 'tcp', Timeout => 10)
            or croak "simultaneous: connect to $host:$port: $!";
        push @socks, $s;
    }
    syswrite $socks[$_], $reqs->[$_] for 0 .. $#socks;
    my %idx = map { (fileno($socks[$_]) => $_) } 0 .. $#socks;
    my @buf = ('') x @socks;
    my $sel = IO::Select->new(@socks);
    my $deadline = time + ($o{timeout} // 30);
    while ($sel->count && time < $deadline) {
        for my $s ($sel->can_read(0.5)) {
            my $i = $idx{ fileno $s };
            my $n = sysread $s, my $chunk, 65536;
            if ($n) { $buf[$i] .= $chunk }
            else    { $sel->remove($s) }
        }
    }
    close $_ for @socks;
    return map { /^HTTP\/1\.\d (\d{3})/ ? $1 : 'none' } @buf;
}

# access_note($tag, %opts) -> [status, result note, user] from the suite's
# pal_access_log line of the proxy request whose URL ends in "?$tag", waiting up to
# 3 s for it; [] when there is none. Option: log => another file written
# with the same first fields ("%h %u %>s \"%r\" %{proxyauth-result}n").
sub access_note {
    my ($tag, %o) = @_;
    my $log = $o{log} // Apache::Test::vars('t_logs') . '/pal_access_log';
    my $deadline = time + 3;
    while (1) {
        if (open my $fh, '<', $log) {
            while (my $l = <$fh>) {
                # the proxy's line (absolute URI), not the origin's
                return [$2, $3, $1]
                    if $l =~ /^\S+ (\S+) (\d{3}) "[A-Z]+ https?:\/\/[^" ]*\?\Q$tag\E [^"]*" (\S+)/;
            }
        }
        return [] if time > $deadline;
        sleep 0.05;
    }
}

# ldap_server_states() -> { "host:port" => "up" | "down" } from the
# ProxyAuthLDAPServer lines of the suite's /server-status?auto.
sub ldap_server_states {
    my $ua = LWP::UserAgent->new(timeout => 10, keep_alive => 0);
    $ua->no_proxy;
    my $r = $ua->get('http://' . proxy_hostport() . '/server-status?auto');
    my %s;
    for (split /\n/, $r->decoded_content // '') {
        $s{$1} = $2 if /^ProxyAuthLDAPServer:\s*(\S+)\s+(up|down)\b/;
    }
    return \%s;
}

# user_binds($slapd_log, $offset, $dn) -> number of BIND operations for $dn
# (compared case-insensitively) in a slapd "stats" log after byte $offset.
sub user_binds {
    my ($log, $off, $dn) = @_;
    open my $fh, '<', $log or return 0;
    seek $fh, $off, 0;
    my $n = 0;
    while (my $l = <$fh>) {
        $n++ if $l =~ / BIND dn="([^"]*)" method=/ && lc $1 eq lc $dn;
    }
    return $n;
}

# relay_start(listen => PORT, backend => PORT, delay => SECONDS) -> handle
# { pid, port, log }: t/lib/slow_relay.pl on 127.0.0.1:PORT in front of the
# backend, holding every backend->client chunk for SECONDS; ready on return.
# Like every process of PALTest, it dies with the test that started it.
sub relay_start {
    my (%o) = @_;
    return _helper('slow_relay.pl', $o{listen}, $o{listen}, $o{backend}, $o{delay});
}

# relay_no_delay($handle): data the relay reads from now on goes on at once.
sub relay_no_delay { my ($h) = @_; kill 'USR1', $h->{pid} if $h->{pid} }

# responder_start(port => PORT, bind_ok => PASSWORD, diag => TEXT) -> handle:
# t/lib/hostile_ldap.pl on 127.0.0.1:PORT, ready on return.
sub responder_start {
    my (%o) = @_;
    return _helper('hostile_ldap.pl', $o{port}, $o{port}, $o{bind_ok}, $o{diag});
}

sub _helper {
    my ($script, $port, @args) = @_;
    my $log = PALTest::_base_tmp() . "/$script.$port.log";
    my $pid = PALTest::_spawn($log, $^X, "$LIB/$script", @args);
    PALTest::_await($pid, $port, 5, $script, $log);
    return { pid => $pid, port => $port, log => $log };
}

# helper_stop($handle): SIGTERM, wait.
sub helper_stop {
    my ($h) = @_;
    my $pid = delete $h->{pid} or return;
    local $?;
    PALTest::_stop_pid($pid, 5);
}

1;
