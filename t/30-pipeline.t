# End to end: upload through httpd, tiles through Kafka to two real workers,
# results assembled by httpd's results consumer, compared pixel for pixel
# with local mode.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(sleep);
use TilerTest;

my $t = TilerTest->new(name => 'pipeline');
$t->start_all(workers => 2);

my $png = $t->make_image('photo.png', 1100, 700, 'png', 1, 11);     # with alpha
my $jpg = $t->make_image('photo.jpg', 900, 1300, 'jpeg', 0, 12);
my $pal = $t->make_image('palette.png', 1100, 700, 'png-palette', 0, 13);   # colour type 3
my $webp = $t->make_image('photo.webp', 1100, 700, 'webp', 1, 14);          # lossless, with alpha
my $gif = $t->make_image('photo.gif', 700, 600, 'gif', 0, 15);
my $bmp = $t->make_image('photo.bmp', 600, 700, 'bmp', 0, 16);

my @cases = (
    [$png, 'grayscale'], [$png, 'invert'], [$png, 'blur:3'],
    [$png, 'grayscale,blur:3,invert'], [$png, 'blur:0.7,blur:2.5'],
    [$jpg, 'grayscale'], [$jpg, 'blur'], [$jpg, 'grayscale,blur:3,invert'],
    [$pal, 'blur:3'], [$webp, 'grayscale,blur:3'], [$gif, 'blur:2'], [$bmp, 'invert,blur:1'],
);
my %jobs;
for my $c (@cases) {
    my ($file, $ops) = @$c;
    my ($r, $j) = $t->submit($file, $ops);
    is($r->{status}, 202, "POST $ops on $file: 202") or diag($r->{content});
    like($j->{id} // '', qr/^[0-9a-f]{32}$/, 'id is 128 bits of hex');
    is($r->{headers}{location}, "/tiler/api/jobs/$j->{id}", 'Location header points at the status');
    is($j->{status_url}, "/tiler/api/jobs/$j->{id}", 'status_url');
    is($j->{result_url}, "/tiler/api/jobs/$j->{id}/result", 'result_url');
    $jobs{$j->{id}} = $c;
}
# Tiles leave while the upload decodes: of the JPEG's three rows of tiles
# (512-pixel tiles, 1300 rows), the first two go out before its last row is
# decoded; of the RGBA and the palette PNGs' two rows (700 rows), the first.
{
    my $log = TilerTest::slurp($t->dir . '/logs/error.log');
    my @jpeg = $log =~ /AH30406: job \w+ queued: 900x1300 jpeg, 6 tiles, ops [^;]+; (\d+) tiles out before the last row was decoded/g;
    is_deeply(\@jpeg, [4, 4, 4], 'JPEG uploads: 4 of 6 tiles out before the last row was decoded');
    my @png = $log =~ /AH30406: job \w+ queued: 1100x700 png, 6 tiles, ops [^;]+; (\d+) tiles out before/g;
    is_deeply(\@png, [3, 3, 3, 3, 3, 3], 'PNG uploads (RGBA and palette): 3 of 6 tiles out before the last row was decoded');
    my @webp = $log =~ /AH30406: job \w+ queued: 1100x700 webp, 6 tiles, ops [^;]+; (\d+) tiles out before/g;
    is_deeply(\@webp, [3], 'WebP upload: 3 of 6 tiles out before the last row was decoded');
    like($log, qr/AH30406: .*first tile out \d+ ms after the upload was in, decoded at \d+ ms, all acknowledged at \d+ ms/,
         'the timings are logged');
}
for my $id (sort keys %jobs) {
    my ($file, $ops) = @{ $jobs{$id} };
    my ($j) = $t->wait_job($id, 120);
    is($j->{state}, 'done', "job $ops on $file is done") or diag(explain $j);
    is($j->{tiles_done}, $j->{tiles_total}, 'tiles_done equals tiles_total');
    is($j->{ops}, $ops =~ s/^blur$/blur:3/r, 'ops in canonical form');
    like($j->{created}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'created is RFC 3339');
    like($j->{finished} // '', qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'finished is RFC 3339');
    my ($r) = $t->request('GET', "/tiler/api/jobs/$id/result");
    is($r->{status}, 200, 'result served');
    is($r->{headers}{'content-type'}, 'image/png', 'PNG by default');
    my $out = $t->dir . "/$id.png";
    TilerTest::spew($out, $r->{content});
    my ($msg, $same) = $t->imgcmp($out, $t->local_result($file, $ops));
    ok($same, "$ops on $file: identical to local mode ($msg)");
    if ($file eq $png) {
        # Colour type 6 = RGBA, 4 = gray with alpha (a chain with
        # grayscale): alpha survived the trip either way.
        my $gray = $ops =~ /grayscale/;
        is(ord(substr($r->{content}, 25, 1)), $gray ? 4 : 6,
           'PNG result keeps its alpha channel' . ($gray ? ', as gray' : ''));
    }
}

# JPEG output.
{
    my ($r, $j) = $t->submit($png, 'grayscale,blur:2', format => 'jpeg');
    is($r->{status}, 202, 'JPEG result requested');
    my ($s) = $t->wait_job($j->{id}, 120);
    is($s->{state}, 'done', 'JPEG job done');
    is($s->{format}, 'jpeg', 'format recorded');
    ($r) = $t->request('GET', "/tiler/api/jobs/$j->{id}/result");
    is($r->{headers}{'content-type'}, 'image/jpeg', 'served as image/jpeg');
    is(substr($r->{content}, 0, 3), "\xff\xd8\xff", 'is a JPEG');
    my $out = $t->dir . "/$j->{id}.jpg";
    TilerTest::spew($out, $r->{content});
    my ($msg, $same) = $t->imgcmp($out, $t->local_result($png, 'grayscale,blur:2', 'jpeg'));
    ok($same, "JPEG result identical to local mode's JPEG ($msg)");
}

# State transitions: with the workers stopped a job stays queued; once they
# run it moves through running to done, and the count only grows.
{
    for my $n (1, 2) {
        my $status = $t->stop_process("worker$n");
        is($status, 0, "worker$n exits 0 on SIGTERM");
        like(TilerTest::slurp($t->dir . "/logs/worker$n.log"), qr/info: stopping: finishing the tasks in hand, committing offsets and leaving the group/,
             "worker$n says it leaves the group");
    }
    my $big = $t->make_image('big.png', 3000, 2000, 'png', 0, 13);
    my ($r, $j) = $t->submit($big, 'blur:3');
    is($r->{status}, 202, 'big job accepted with no worker running');
    sleep 1;
    my (undef, $s) = $t->request('GET', "/tiler/api/jobs/$j->{id}");
    is($s->{state}, 'queued', 'queued while no worker runs');
    is($s->{tiles_done}, 0, 'no tile done yet');
    is($s->{tiles_total}, 24, '3000x2000 in 512-px tiles is 24 tiles');
    is($s->{finished}, undef, 'not finished');
    ($r) = $t->request('GET', "/tiler/api/jobs/$j->{id}/result");
    is($r->{status}, 409, 'result of a queued job: 409');
    # The job lives in Kafka, the spool and the store: a full httpd restart
    # loses nothing.
    my $assigned = sub { scalar(() = TilerTest::slurp($t->dir . '/logs/error.log') =~ /AH30302: results consumer assigned/g) };
    my $before = $assigned->();
    $t->stop_httpd;
    $t->start_httpd;
    (undef, $s) = $t->request('GET', "/tiler/api/jobs/$j->{id}");
    is($s->{state}, 'queued', 'still queued after a full httpd restart');
    # The new results consumer has its partitions before any tile comes
    # back, so that it applies them as they come and not all at once.
    my $deadline = time + 60;
    sleep 0.05 while $assigned->() <= $before && time < $deadline;
    cmp_ok($assigned->(), '>', $before, 'the new results consumer is assigned its partitions');
    $t->start_worker($_) for 1, 2;
    my ($final, $seen) = $t->wait_job($j->{id}, 120);
    is($final->{state}, 'done', 'big job done after workers start');
    my @states = map { $_->[0] } @$seen;
    my ($mono, $prev) = (1, 0);
    for (@$seen) { $mono = 0 if $_->[1] < $prev; $prev = $_->[1]; }
    ok($mono, 'tiles_done never went down');
    my %order = (queued => 0, running => 1, done => 2);
    my $ordered = 1;
    for my $i (1 .. $#states) { $ordered = 0 if $order{$states[$i]} < $order{$states[$i - 1]}; }
    ok($ordered, 'states only move forward: ' . join(' ', map { "$_->[0]($_->[1])" } @$seen[0, -1]));
    ok((grep { $_->[0] eq 'running' && $_->[1] > 0 && $_->[1] < 24 } @$seen), 'seen running part-way');
    ($r) = $t->request('GET', "/tiler/api/jobs/$j->{id}/result");
    my $out = $t->dir . '/big-result.png';
    TilerTest::spew($out, $r->{content});
    my ($msg, $same) = $t->imgcmp($out, $t->local_result($big, 'blur:3'));
    ok($same, "job across the restart identical to local mode ($msg)");
}

# The job list, newest first.
{
    my ($r, $l) = $t->request('GET', '/tiler/api/jobs');
    is($r->{status}, 200, 'job list');
    is(scalar @{ $l->{jobs} }, scalar(keys %jobs) + 2, 'every job listed');
    my @created = map { $_->{created} } @{ $l->{jobs} };
    is_deeply(\@created, [sort { $b cmp $a } @created], 'newest first');
}

# Workers as the monitor sees them.
{
    my $w = $t->wait_workers_alive(2, 10);
    my @alive = grep { $_->{state} eq 'alive' } @{ $w->{workers} || [] };
    is(scalar @alive, 2, 'monitor reports two live workers');
    for my $x (@alive) {
        like($x->{id}, qr/^worker\d-pipeline$/, "worker id $x->{id}");
        ok(length $x->{host}, 'host reported');
        ok($x->{last_heartbeat_age_s} < 5, 'recent heartbeat');
        ok(defined $x->{tiles_done}, 'tiles_done reported');
    }
}

# A worker that stops sending heartbeats is declared dead (the tests run
# the monitor with --dead-after-ms 5000).
{
    $t->stop_process('worker1', 'KILL');
    my $state = '';
    for (1 .. 60) {
        my (undef, $d) = $t->request('GET', '/tiler/api/workers');
        ($state) = map { $_->{state} } grep { $_->{id} eq 'worker1-pipeline' } @{ $d->{workers} || [] };
        last if ($state // '') eq 'dead';
        sleep 0.25;
    }
    is($state, 'dead', 'a killed worker is reported dead');
    like(TilerTest::slurp($t->dir . '/logs/monitor.log'), qr/warn: worker worker1-pipeline is dead/,
         'the monitor logs the transition');
}

$t->finish;
done_testing;
