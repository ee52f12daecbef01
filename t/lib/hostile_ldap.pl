#!/usr/bin/perl
# A tiny LDAP responder with a hostile diagnostic message: perl
# hostile_ldap.pl PORT BIND_OK_PASSWORD DIAGNOSTIC. On 127.0.0.1:PORT it
# refuses every simple bind with resultCode 53 (unwillingToPerform) and
# DIAGNOSTIC as diagnosticMessage, except a bind with BIND_OK_PASSWORD, which
# succeeds; every search is refused with 80 (other) and DIAGNOSTIC. Encoded
# with Net::LDAP's own ASN.1 definitions. Started by PALRegress::responder_start
# (it dies with the test that started it).
use strict;
use warnings;
use IO::Select;
use IO::Socket::INET;
use Net::LDAP::ASN qw(LDAPRequest LDAPResponse);

my ($port, $bind_ok, $diag) = @ARGV;
die "usage: $0 PORT BIND_OK_PASSWORD DIAGNOSTIC\n" unless $port && defined $diag;
$SIG{PIPE} = 'IGNORE';

my $listen = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port, Proto => 'tcp',
                                   Listen => 16, ReuseAddr => 1)
    or die "hostile_ldap: listen on 127.0.0.1:$port: $!\n";

# The answer to one request PDU, or undef (none due, or the client is done).
sub answer {
    my ($pdu) = @_;
    my $req = $LDAPRequest->decode($pdu) or return;
    my $op;
    if (my $b = $req->{bindRequest}) {
        my $pw = $b->{authentication}{simple} // '';
        $op = { bindResponse => $pw eq $bind_ok
                ? { resultCode => 0, matchedDN => '', errorMessage => '' }
                : { resultCode => 53, matchedDN => '', errorMessage => $diag } };
    }
    elsif ($req->{searchRequest}) {
        $op = { searchResDone => { resultCode => 80, matchedDN => '', errorMessage => $diag } };
    }
    else {
        return;    # unbind, abandon and the like have no answer
    }
    return $LDAPResponse->encode(messageID => $req->{messageID}, protocolOp => $op);
}

# The length of the first BER element in $buf, or 0 while it is incomplete.
sub pdu_length {
    my ($buf) = @_;
    return 0 if length $buf < 2;
    my $l = ord substr $buf, 1, 1;
    my ($hdr, $len) = (2, $l);
    if ($l & 0x80) {
        my $n = $l & 0x7f;
        return 0 if length $buf < 2 + $n;
        $len = 0;
        $len = $len * 256 + ord substr $buf, 2 + $_, 1 for 0 .. $n - 1;
        $hdr += $n;
    }
    return length $buf >= $hdr + $len ? $hdr + $len : 0;
}

# One process for every connection, so nothing outlives it.
my $sel = IO::Select->new($listen);
my %buf;
while (1) {
    for my $s ($sel->can_read) {
        if ($s == $listen) {
            my $c = $listen->accept or next;
            $sel->add($c);
            $buf{ fileno $c } = '';
            next;
        }
        my $fd = fileno $s;
        my $n = sysread $s, my $chunk, 65536;
        if (!$n) {
            $sel->remove($s);
            delete $buf{$fd};
            close $s;
            next;
        }
        $buf{$fd} .= $chunk;
        while (my $len = pdu_length($buf{$fd})) {
            my $out = answer(substr $buf{$fd}, 0, $len, '');
            syswrite $s, $out if defined $out;
        }
    }
}
