# The pages in a real browser never load a result over
# TilerPreviewAbovePixels: the upload page and the job page show a preview
# made from it (t/browser/preview.mjs, Debian's Chromium and playwright-core).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use TilerTest;

use constant MIN_CHECKS => 8;   # the checks in t/browser/preview.mjs

my $top = $TilerTest::TOP;
TilerTest::need(-x '/usr/bin/chromium' && -d "$top/t/browser/node_modules/playwright-core",
                'chromium and playwright-core (scripts/check installs them)');

# TilerZoom Off: the page keeps the preview (with the zoomable view it is
# replaced once the pyramid is built: t/43-zoom-browser.t).
my $t = TilerTest->new(name => 'preview', directives => "TilerPreviewAbovePixels 200000\nTilerZoom Off\n");
$t->start_all(workers => 2);
my $big = $t->make_image('big.png', 2500, 1000, 'png', 0, 41);
my $small = $t->make_image('small.png', 400, 300, 'png', 0, 42);
my (undef, $s) = $t->submit($small, 'invert');
my ($j) = $t->wait_job($s->{id}, 60);
is($j->{state}, 'done', 'the small job is done');
my $out = `node $top/t/browser/preview.mjs @{[$t->url]}/tiler/ $big $s->{id} $top/t/artifacts 2>&1`;
my $rc = $?;
my $seen = 0;
for my $line (split /\n/, $out) {
    if ($line =~ /^(not )?ok - (.*)$/) { ok(!$1, $2); $seen++ }
    elsif ($line !~ /^RESULT /) { diag($line) }
}
is($rc, 0, 'the browser run passed');
# A script that stopped early (or printed nothing) and exited 0 is no pass:
# it must have made every check it has, and said how many.
my ($json) = $out =~ /^RESULT (.*)$/m;
my $res = eval { JSON::PP::decode_json($json // '') } // {};
is($res->{checks} // 0, $seen, 'the browser script finished, reporting each check it made');
cmp_ok($seen, '>=', MIN_CHECKS, 'and made all ' . MIN_CHECKS . ' of them');
$t->finish;
done_testing;
