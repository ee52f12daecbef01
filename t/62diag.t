# Text that comes from the LDAP server is escaped in the error log (SPEC
# "Details that users will rely on"): a hostile or broken directory must not
# be able to forge log lines with CR/LF in its diagnostic message.
#
# This file runs a tiny LDAP responder (t/lib/hostile_ldap.pl) on
# PAL_LDAP_SPARE9_PORT: every bind is refused with resultCode 53
# (unwillingToPerform), except a bind with the password of
# /s/rg-diag-search/, which succeeds and whose search is then refused with 80
# (other). Both answers carry the diagnosticMessage
#   line one\r\n[Thu Jan 01] [core:emerg] forged "quote"
# Scopes /s/rg-diag/ and /s/rg-diag-search/ of t/conf/regressions.conf.in.
#
# httpd 2.4 itself escapes control characters in error-log messages (unless
# built with AP_UNSAFE_ERROR_LOG_UNESCAPED), and escapes backslashes too, so
# text the module escaped first arrives with doubled backslashes: both forms
# are accepted. What matters is the log as written.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use PALTest;
use PALRegress;
use Time::HiRes qw(sleep time);

plan tests => 8;

my $origin = origin_hostport();
my $PORT = $ENV{PAL_LDAP_SPARE9_PORT} or die "PAL_LDAP_SPARE9_PORT not set (t/TEST.PL)\n";
my $FORGED = '[Thu Jan 01] [core:emerg] forged "quote"';
my $DIAG = "line one\r\n$FORGED";
my $BIND_OK = 'bind-ok-search-fails';

my $responder = responder_start(port => $PORT, bind_ok => $BIND_OK, diag => $DIAG);

for my $case (['rg-diag', 'the service bind'], ['rg-diag-search', 'the user search']) {
    my ($scope, $what) = @$case;
    my $mark = error_log_mark();
    my $r = proxy_request(GET => "http://$origin/s/$scope/index.html",
                          'Proxy-Authorization' => basic('alice', 'alice-secret'));
    is $r->code, 503, "/s/$scope/: $what refused with a diagnostic message: 503"
        or diag 'got ' . $r->status_line;

    # The module's line about this request (it names the diagnostic's start).
    my ($log, @mine);
    my $deadline = time + 3;
    while (1) {
        $log = error_log_since($mark);
        @mine = grep { /PAL\d{4}/ && /line one/ } split /\n/, $log;
        last if @mine || time > $deadline;
        sleep 0.05;
    }
    ok !($log =~ /^\Q[Thu Jan 01] [core:emerg] forged\E/m),
       "/s/$scope/: no error-log line starts with the forged text"
        or diag "error log since the request:\n$log";
    ok index($log, "\r") < 0, "/s/$scope/: no raw CR in the error log";
    ok scalar(grep { /line one(?:\\+r\\+n|\\+x0d\\+x0a)\Q[Thu Jan 01] [core:emerg] forged\E/i } @mine),
       "/s/$scope/: the module's log line holds the message, CR/LF escaped"
        or diag "lines naming it:\n" . join("\n", @mine);
}

helper_stop($responder);
