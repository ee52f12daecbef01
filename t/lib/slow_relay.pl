#!/usr/bin/perl
# A TCP relay that makes a directory slow: perl slow_relay.pl LISTEN_PORT
# BACKEND_PORT DELAY. Accepts on 127.0.0.1:LISTEN_PORT, connects each client
# to 127.0.0.1:BACKEND_PORT, passes client data on at once and holds every
# chunk the backend sends for DELAY seconds (latency, not a throughput limit).
# SIGUSR1: no delay for data read afterwards. Started by
# PALRegress::relay_start (it dies with the test that started it).
use strict;
use warnings;
use IO::Select;
use IO::Socket::INET;
use Time::HiRes qw(time);

my ($port, $backend, $delay) = @ARGV;
die "usage: $0 LISTEN_PORT BACKEND_PORT DELAY\n" unless $port && $backend && defined $delay;
$SIG{USR1} = sub { $delay = 0 };
$SIG{PIPE} = 'IGNORE';

my $listen = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port, Proto => 'tcp',
                                   Listen => 128, ReuseAddr => 1)
    or die "slow_relay: listen on 127.0.0.1:$port: $!\n";

# All by file descriptor number. %peer: the other side, undef once the
# backend side is gone; %queue: client fd => [[due time, data or undef = close]].
my (%sock, %peer, %from_backend, %queue);
my $sel = IO::Select->new($listen);

sub drop {
    my @fds = @_;    # copies: an argument may alias an entry of %peer
    for my $fd (@fds) {
        next unless defined $fd;
        my $s = delete $sock{$fd} or next;
        $sel->remove($s);
        close $s;
        delete $queue{$fd};
        delete $from_backend{$fd};
        delete $peer{$fd};
    }
}

while (1) {
    my $now = time;
    my $wait = 0.05;
    for my $q (values %queue) {
        $wait = $q->[0][0] - $now if @$q && $q->[0][0] - $now < $wait;
    }
    for my $s ($sel->can_read($wait > 0.001 ? $wait : 0.001)) {
        if ($s == $listen) {
            my $c = $listen->accept or next;
            my $b = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $backend,
                                          Proto => 'tcp', Timeout => 5);
            if (!$b) { close $c; next }
            my ($fc, $fb) = (fileno $c, fileno $b);
            @sock{$fc, $fb} = ($c, $b);
            @peer{$fc, $fb} = ($fb, $fc);
            $from_backend{$fb} = 1;
            $queue{$fc} = [];
            $sel->add($c, $b);
            next;
        }
        my $fd = fileno $s;
        next unless defined $fd && $sock{$fd};
        my $n = sysread $s, my $buf, 65536;
        if ($from_backend{$fd}) {
            my $fc = $peer{$fd};
            # the client still gets what came before, then the close
            push @{ $queue{$fc} }, [time + $delay, $n ? $buf : undef] if defined $fc && $queue{$fc};
            if (!$n) {
                $peer{$fc} = undef if defined $fc;
                $sel->remove($s);
                close $s;
                delete $sock{$fd};
                delete $from_backend{$fd};
                delete $peer{$fd};
            }
        }
        elsif ($n) {
            my $fb = $peer{$fd};
            syswrite $sock{$fb}, $buf if defined $fb && $sock{$fb};
        }
        else {
            drop($fd, $peer{$fd});
        }
    }
    $now = time;
    for my $fc (keys %queue) {
        my $q = $queue{$fc} or next;
        while (@$q && $q->[0][0] <= $now) {
            my (undef, $data) = @{ shift @$q };
            if (!defined $data) { drop($fc); last }
            syswrite $sock{$fc}, $data if $sock{$fc};
        }
    }
}
