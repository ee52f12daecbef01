# Licensed under the Apache License, Version 2.0 (see NOTICE).
# Passes through the TAP of the C unit tests of negotiate_token.c ("make unit").
use strict;
use warnings;
use FindBin;

my $bin = "$FindBin::Bin/unit/unit_negotiate";
unless (-x $bin) {
    print "1..0 # SKIP unit binary not built\n";
    exit 0;
}
exec $bin or die "cannot run $bin: $!\n";
