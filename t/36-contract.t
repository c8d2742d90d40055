# The API contract, checked by clients nobody here wrote: docs/openapi.yaml
# is validated by openapi-spec-validator, then schemathesis generates
# requests from it against the live module (with a broker, workers and the
# monitor, and a finished job, so that the job endpoints answer 200 too) and
# runs all its checks: no 5xx, every status documented, every body matching
# its schema, 405 with Allow for methods not offered, bad input refused.
# Both come from PyPI into a virtualenv that scripts/check makes
# (scripts/lib.sh install_python_tools); TILER_PYVENV points at it.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use TilerTest;

my $top = "$FindBin::Bin/..";
my $venv = $ENV{TILER_PYVENV} // "$ENV{HOME}/.cache/mod_tiler/pyvenv";
my ($st, $validator) = ("$venv/bin/schemathesis", "$venv/bin/openapi-spec-validator");
TilerTest::need(-x $st && -x $validator,
                "schemathesis and openapi-spec-validator in $venv (scripts/lib.sh install_python_tools)");

my $spec = "$top/docs/openapi.yaml";
my $out = `"$validator" "$spec" 2>&1`;
is($?, 0, 'openapi-spec-validator accepts docs/openapi.yaml') or diag $out;

# A preview threshold under the job's 60,000 pixels: the job gets a zoomable
# view, so that its endpoints answer 200 too.
my $t = TilerTest->new(name => 'contract', directives => "TilerPreviewAbovePixels 50000\n");
$t->start_all(workers => 1);
my $png = $t->make_image('c.png', 300, 200, 'png', 1, 5);
my (undef, $job) = $t->submit($png, 'grayscale');
my ($final) = $t->wait_job($job->{id});
is($final->{state}, 'done', 'a job to describe');
for (1 .. 600) {   # its pyramid is built after the job is done
    last if $final->{zoom_url};
    (undef, $final) = $t->request('GET', "/tiler/api/jobs/$job->{id}");
    select(undef, undef, undef, 0.05);
}
ok($final->{zoom_url}, 'with a zoomable view');

# The event stream never ends by itself: t/schemathesis.toml has
# schemathesis read its first event only.
my $report = $t->dir . '/schemathesis';
my @cmd = ($st, '--config-file', "$FindBin::Bin/schemathesis.toml", 'run', $spec, '--url', $t->url . '/tiler', '--checks', 'all', '--max-examples', '100',
           '--seed', '1', '--workers', '1', '--request-timeout', '20',
           '--report', 'junit', '--report-dir', $report, '--no-color');
$ENV{TILER_CONTRACT_JOB} = $job->{id};
# From the test's directory: schemathesis keeps a cache where it runs.
$out = `cd '@{[ $t->dir ]}' && @{[ join ' ', map { "'$_'" } @cmd ]} 2>&1`;
is($?, 0, 'schemathesis finds nothing') or diag $out;
like($out, qr/\b\d+ passed\b/, 'schemathesis ran its checks');

$t->finish;
done_testing;
