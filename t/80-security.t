# Security: httpd's own auth protects the API and the upload; secrets given
# as Kafka properties never show in logs or API output; the pass-through
# properties reach librdkafka in the module and both daemons (a bad one is a
# startup error naming it); the daemons drop root with --user and refuse a
# world-writable config file.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use File::Temp qw(tempfile);
use MIME::Base64 qw(encode_base64);
use Test::More;
use Time::HiRes qw(sleep);
use TilerTest;

my $secret = 'S3cret-Pa55-' . $$;
my $t = TilerTest->new(name => 'security',
    directives => "TilerKafkaProperty sasl.username tiler\nTilerKafkaProperty sasl.password $secret\n",
    allow_log => [qr/AH01617: user alice: authentication failure .*Password Mismatch/,
                  # The SASL pass-through test sets a username without a mechanism on purpose.
                  qr/AH30(?:201|301): kafka (?:producer|results consumer) CONFWARN: .*`sasl\.username` only applies when `sasl\.mechanism`/],
    location_extra => qq{    AuthType Basic\n    AuthName "mod_tiler"\n    AuthUserFile "DIR/htpasswd"\n    Require valid-user\n});
$t->{location_extra} =~ s/DIR/$t->dir/e;
system('htpasswd', '-bc', $t->dir . '/htpasswd', 'alice', 'wonderland') == 0 or die 'htpasswd failed';
chmod 0644, $t->dir . '/htpasswd';
$t->start_all(workers => 1);
my $img = $t->make_image('a.png', 100, 80, 'png', 0, 101);
my $auth = { Authorization => 'Basic ' . encode_base64('alice:wonderland', '') };

# ---- Apache auth on the Location ----
for my $p ('/tiler/', '/tiler/api/jobs', '/tiler/api/workers', '/tiler/dashboard.html', '/tiler/api/jobs/' . ('ab' x 16),
           '/tiler/api/jobs/' . ('ab' x 16) . '/zoom.dzi', '/tiler/api/jobs/' . ('ab' x 16) . '/zoom_files/0/0_0.png',
           '/tiler/static/openseadragon.min.js') {
    my ($r) = $t->request('GET', $p);
    is($r->{status}, 401, "GET $p without credentials: 401");
}
{
    my ($r) = $t->request('POST', '/tiler/api/jobs?ops=invert', content => TilerTest::slurp($img), headers => { 'Content-Type' => 'image/png' });
    is($r->{status}, 401, 'upload without credentials: 401');
    ($r) = $t->request('POST', '/tiler/api/jobs?ops=invert', content => TilerTest::slurp($img),
                       headers => { 'Content-Type' => 'image/png', Authorization => 'Basic ' . encode_base64('alice:wrong', '') });
    is($r->{status}, 401, 'upload with a wrong password: 401');
    my $j;
    ($r, $j) = $t->request('POST', '/tiler/api/jobs?ops=invert', content => TilerTest::slurp($img),
                           headers => { 'Content-Type' => 'image/png', %$auth });
    is($r->{status}, 202, 'upload with credentials: 202');
    my $s;
    for (1 .. 300) {
        (undef, $s) = $t->request('GET', "/tiler/api/jobs/$j->{id}", headers => $auth);
        last if $s && $s->{state} =~ /done|failed/;
        sleep 0.1;
    }
    is($s->{state}, 'done', 'and the job runs');
}

# ---- secrets stay secret ----
{
    my $all = '';
    for my $p ('/tiler/api/jobs', '/tiler/api/workers', '/tiler/api/cluster') {
        my ($r) = $t->request('GET', $p, headers => $auth);
        $all .= $r->{content} // '';
    }
    unlike($all, qr/\Q$secret\E/, 'no secret in /api/* output');
    unlike(TilerTest::slurp($t->dir . '/logs/error.log'), qr/\Q$secret\E/, 'no secret in the error log');
}

# ---- the daemons ----
my $worker = 'timeout 20 ' . $t->bin('tiler-worker/tiler-worker');
my $monitor = 'timeout 20 ' . $t->bin('tiler-monitor/tiler-monitor');
{
    my $out = `$worker --foreground -b $t->{brokers} -X no.such.property=1 2>&1`;
    is($? >> 8, 2, 'worker: an unknown Kafka property exits 2');
    like($out, qr/no\.such\.property/, "and names it: $out");
    $out = `$worker --foreground -b $t->{brokers} -X security.protocol=ssl -X ssl.ca.location=/nonexistent/ca.pem 2>&1`;
    is($? >> 8, 2, 'worker: TLS settings reach librdkafka (a missing CA file is a startup error)');
    like($out, qr/ssl\.ca\.location|\/nonexistent\/ca\.pem/, 'naming what is wrong');
    $out = `$monitor --foreground --snapshot /tmp/x -b $t->{brokers} -X security.protocol=sasl_plaintext -X sasl.mechanisms=NOPE 2>&1`;
    is($? >> 8, 2, 'monitor: a bad SASL setting exits 2');
    like($out, qr/sasl\.mechanisms|SASL mechanism: NOPE/, "and names it: $out");
    unlike($out, qr/\Q$secret\E/, 'nothing secret printed');
    my ($fh, $conf) = tempfile(DIR => $t->dir);
    print $fh "brokers = $t->{brokers}\nkafka.sasl.password = $secret\n";
    close $fh;
    chmod 0666, $conf;
    $out = `$worker -c $conf --foreground 2>&1`;
    is($? >> 8, 2, 'worker: a world-writable config file is refused');
    like($out, qr/world-writable/, 'and says so');
    unlike($out, qr/\Q$secret\E/, 'without printing its contents');
}
SKIP: {
    TilerTest::missing('root, to drop privileges') if $> != 0;
    skip 'dropping privileges needs root', 3 if $> != 0;
    my $pid = $t->spawn('dropped', $t->bin('tiler-worker/tiler-worker'), '--foreground', '--user', 'nobody', '-b', $t->{brokers},
        '--group', $t->{groups}{workers}, '--tasks-topic', $t->{topics}{tasks}, '--results-topic', $t->{topics}{results},
        '--heartbeats-topic', $t->{topics}{heartbeats}, '--dead-letter-topic', $t->{topics}{dead_letters}, '--id', 'dropped');
    my $uid;
    for (1 .. 50) {
        if (open my $st, '<', "/proc/$pid/status") { local $/; ($uid) = <$st> =~ /^Uid:\s+(\d+)/m; }
        last if defined $uid && $uid != 0;
        sleep 0.1;
    }
    is($uid, scalar getpwnam('nobody'), 'worker started as root runs as nobody with --user nobody');
    like(TilerTest::slurp($t->dir . '/logs/dropped.log'), qr/info: running as user nobody/, 'and says so');
    is($t->stop_process('dropped'), 0, 'and still stops cleanly');
}

$t->finish;
done_testing;
