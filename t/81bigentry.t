# A session too large for a cache entry (here: 65 groups on one Require
# proxy-ldap-group line) cannot be cached: every request then goes to LDAP,
# which is safe, but an administrator must be told once, with the reason,
# instead of finding out from the directory's load.
#
# Scope /s/rg-groups65/ of t/conf/regressions.conf.in on the fixture slapd.
# All requests go over one keep-alive connection, so one child serves them
# and "once" holds however the module counts (per process or per server).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use PALTest;
use PALRegress;
use HTTP::Request;
use Time::HiRes qw(sleep time);

my $N = 3;
plan tests => 3 * $N + 3;

my $origin = origin_hostport();
my $FIX = $ENV{PAL_LDAP_PORT};
my $run = "$$-" . int(time);

my $ua = proxy_ua(keep_alive => 1);
my $mark = error_log_mark();
my $last;
for my $i (1 .. $N) {
    my $tag = "big$i-$run";
    my $c0 = monitor_counts($FIX);
    my $r = $ua->request(HTTP::Request->new(
        GET => "http://$origin/s/rg-groups65/index.html?$tag",
        ['Proxy-Authorization' => basic('alice', 'alice-secret')]));
    my $c1 = monitor_counts($FIX);
    $last = $r;
    is $r->code, 200, "request $i: alice (in the 65th group): 200" or diag $r->status_line;
    is access_note($tag)->[1], 'ldap', "request $i: answered by LDAP (access log note \"ldap\")";
    ok $c1->{bind} - $c0->{bind} >= 1 && $c1->{search} - $c0->{search} >= 1,
       "request $i: LDAP asked (a bind and searches in cn=Monitor)"
        or diag sprintf 'binds %d, searches %d', $c1->{bind} - $c0->{bind},
                        $c1->{search} - $c0->{search};
}
is $last->header('Client-Response-Num'), $N, 'all requests on one connection';

my $not_stored = qr/(?:not|never|cannot|could not|unable to)\b.{0,60}?\b(?:stor|cach)/i;
my @lines;
my $deadline = time + 2;
while (1) {
    @lines = grep { /proxyauth_ldap/ && $not_stored } split /\n/, error_log_since($mark);
    last if @lines || time > $deadline;
    sleep 0.1;
}
sleep 0.3;
@lines = grep { /proxyauth_ldap/ && $not_stored } split /\n/, error_log_since($mark);
is scalar(@lines), 1, "exactly one error-log line says the session was not stored ($N requests)"
    or diag "lines:\n" . join("\n", @lines) . "\nerror log since the first request:\n"
          . error_log_since($mark);
like $lines[0] // '', qr/\b6[45]\b|too (?:many|large|big)|limit|exceed/i,
     'the line says why (too many groups / too large)';
