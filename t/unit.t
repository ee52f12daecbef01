# Licensed under the Apache License, Version 2.0 (see NOTICE).
# Passes through the TAP of the C unit tests of basic.c, ldap_strings.c and ad_codes.c ("make unit").
use strict;
use warnings;
use FindBin;

my $bin = "$FindBin::Bin/unit/unit_basic";
unless (-x $bin) {
    print "1..0 # SKIP unit binary not built\n";
    exit 0;
}
exec $bin or die "cannot run $bin: $!\n";
