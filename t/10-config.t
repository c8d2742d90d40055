# Directives: every bad value stops httpd at startup with a message that
# names the directive; and a job whose tiles Kafka never takes fails with
# the reason instead of hanging.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(sleep);
use HTTP::Tiny;
use JSON::PP;
use TilerTest;

my $t = TilerTest->new(name => 'config');

my @bad = (
    ['TilerTileSize 8', qr/TilerTileSize: '8' is not a whole number in 16\.\.2048/],
    ['TilerTileSize 5000', qr/TilerTileSize/],
    ['TilerTileSize abc', qr/TilerTileSize: 'abc'/],
    ['TilerMaxPixels -1', qr/TilerMaxPixels/],
    ['TilerMaxPixels 68719476737', qr/TilerMaxPixels: '68719476737' is not a whole number in 1\.\.68719476736/],
    ['TilerMaxWholeDecodePixels 0', qr/TilerMaxWholeDecodePixels/],
    ['TilerMaxUploadBytes 10MB', qr/TilerMaxUploadBytes/],
    ['TilerMaxOps 99', qr/TilerMaxOps/],
    ['TilerProduceTimeout 5', qr/TilerProduceTimeout/],
    ['TilerTasksTopic bad/name', qr/TilerTasksTopic: 'bad\/name' is not a valid Kafka name/],
    ['TilerResultsGroup "a b"', qr/TilerResultsGroup/],
    ['TilerWorkerGroup "a;b"', qr/TilerWorkerGroup/],
    ['TilerResendSeconds -1', qr/TilerResendSeconds: '-1' is not a whole number in 0\.\.86400/],
    ['TilerBrokers "host:1 host:2"', qr/TilerBrokers/],
    ['TilerKafkaProperty no.such.property 1', qr/TilerKafkaProperty no\.such\.property: .*No such configuration property/],
    ['TilerKafkaProperty security.protocol carrier-pigeon', qr/TilerKafkaProperty security\.protocol/],
    ['<Location /x>\nTilerTileSize 256\n</Location>', qr/TilerTileSize not allowed in <Location> context/],
    ['TilerZoom maybe', qr/TilerZoom must be On or Off/],
    ['TilerPngRows maybe', qr/TilerPngRows must be On or Off/],
);
for my $case (@bad) {
    my ($directive, $want) = @$case;
    $t->{directives} = $directive =~ s/\\n/\n/gr;
    $t->write_httpd_conf;
    my $out = `apache2 -t -f @{[$t->dir]}/httpd.conf 2>&1`;
    isnt($?, 0, "'$directive' stops startup");
    like($out, $want, "'$directive': the message names it");
}
# 2^36 pixels (68.7 GP) is accepted: the old ceiling was 536,870,911.
$t->{directives} = "TilerTileSize 256\nTilerKafkaProperty security.protocol plaintext\nTilerResendSeconds 0\n"
                 . "TilerMaxPixels 68719476736\nTilerMaxWholeDecodePixels 100000000\nTilerZoom Off\nTilerPngRows Off\n";
$t->write_httpd_conf;
my $out = `apache2 -t -f @{[$t->dir]}/httpd.conf 2>&1`;
is($?, 0, 'good values pass') or diag($out);

# Virtual hosts: what a request reads (limits, pages) may differ per
# virtual host; what the one producer and the one results consumer are made
# from (Kafka, spool, topics, groups...) may not: a virtual host with its own
# would never see its jobs assembled, so httpd refuses to start and says which.
my $vhost = sub { "<VirtualHost $t->{http_host}:$t->{http_port}>\nServerName $_[0]\n$_[1]\n</VirtualHost>\n" };
for my $global ('TilerSpoolDir /tmp/elsewhere', 'TilerBrokers 127.0.0.1:9999', 'TilerTasksTopic other-tasks',
                'TilerResultsTopic other-results', 'TilerResultsGroup other-group', 'TilerWorkerGroup other-workers',
                'TilerKafkaProperty socket.timeout.ms 5000', 'TilerResendSeconds 5', 'TilerJobTTL 60',
                'TilerEncodeThreads 3', 'TilerProduceTimeout 5000', 'TilerHeartbeatsTopic other-heartbeats',
                'TilerDeadLetterTopic other-dead-letters', 'TilerTopicReplication 2', 'TilerMaxEventStreams 3', 'TilerZoom Off') {
    my ($name) = $global =~ /^(\S+)/;
    $t->{directives} = $vhost->('127.0.0.1', '') . $vhost->('other.test', $global);
    $t->write_httpd_conf;
    my $out = `apache2 -t -f @{[$t->dir]}/httpd.conf 2>&1`;
    isnt($?, 0, "'$global' in a virtual host stops startup");
    like($out, qr/AH30020: mod_tiler: \Q$name\E is set in <VirtualHost other\.test:\d+> \(.*httpd\.conf:\d+\) to a value of its own, but it can only be set for the whole server/,
         "'$global' in a virtual host: the message names the directive and the virtual host");
}
{
    # The same value as the main server's is no conflict.
    $t->{directives} = $vhost->('127.0.0.1', '') . $vhost->('other.test', "TilerResultsGroup $t->{groups}{results}");
    $t->write_httpd_conf;
    my $out = `apache2 -t -f @{[$t->dir]}/httpd.conf 2>&1`;
    is($?, 0, 'a virtual host repeating the main server\'s value starts') or diag($out);

    # Per-request settings work per virtual host.
    $t->{directives} = $vhost->('127.0.0.1', '')
        . $vhost->('small.test', "TilerMaxOps 1\nTilerMaxUploadBytes 1000\nTilerMaxPixels 100\nTilerTileSize 64\nTilerStuckSeconds 5")
        . $vhost->('odd.test', "TilerTileSize 100");
    $t->start_httpd;
    my $http = HTTP::Tiny->new(timeout => 30);
    my $at = sub {
        my ($host, $q, $body) = @_;
        my $r = $http->request('POST', "http://$host:$t->{http_port}/tiler/api/jobs?$q",
                               { peer => $t->{http_host}, content => $body, headers => { 'Content-Type' => 'image/png' } });
        return ($r->{status}, eval { JSON::PP::decode_json($r->{content}) } || {});
    };
    my ($st, $j) = $at->('small.test', 'ops=invert,grayscale', '');
    is($st, 400, 'small.test: two ops over its TilerMaxOps 1: 400');
    like($j->{message} // '', qr/\b1\b/, "small.test: the message gives its own limit: " . ($j->{message} // ''));
    ($st, $j) = $at->('127.0.0.1', 'ops=invert,grayscale', '');
    is($j->{error} // '', 'empty_body', 'the main server takes two ops (and refuses only the empty body)');
    # A downscale's tiles are TilerTileSize / K: K must divide it, refused
    # before the body is read.
    ($st, $j) = $at->('odd.test', 'ops=blur:1,downscale:8', '');
    is($st, 400, 'odd.test: downscale:8 with 100-pixel tiles: 400');
    like($j->{message} // '', qr/downscales by 8 in all, which does not divide the 100-pixel tiles \(TilerTileSize\)/,
         'odd.test: saying why: ' . ($j->{message} // ''));
    ($st, $j) = $at->('odd.test', 'ops=downscale:4', '');
    is($j->{error} // '', 'empty_body', 'odd.test: downscale:4 divides 100 (only the empty body refused)');
    my $png = $t->make_image('v.png', 40, 30, 'png', 0, 1);
    ($st, $j) = $at->('small.test', 'ops=invert', TilerTest::slurp($png));
    is($st, 413, "small.test: an upload over its TilerMaxUploadBytes or TilerMaxPixels: 413 ($j->{error})");
    $t->stop_httpd;
}

# No broker at all: the upload waits TilerProduceTimeout, then the job is
# failed with the reason and the client gets a 503 naming it.
{
    $t->{brokers} = '127.0.0.1:1';
    $t->{directives} = "TilerProduceTimeout 2000\n";
    $t->{allow_log} = [qr/Connect to ipv4#127\.0\.0\.1:1 failed/, qr/brokers are down/,
                       qr/AH30405: job [0-9a-f]{32} failed/, qr/Failed to resolve|Connection refused/,
                       qr/AH30314: topics not ready yet: creating topics: .*Timed out/];
    $t->start_httpd;
    my $png = $t->make_image('a.png', 40, 30, 'png', 0, 1);
    my ($r, $j) = $t->submit($png, 'invert');
    is($r->{status}, 503, 'no broker: 503');
    is($j->{error}, 'kafka_unavailable', 'error code kafka_unavailable');
    like($j->{message}, qr/unknown to the Kafka brokers|not acknowledge|acknowledged no tile|not delivered/, "reason: $j->{message}");
    my ($lr, $list) = $t->request('GET', '/tiler/api/jobs');
    my ($job) = @{ $list->{jobs} };
    is($job->{state}, 'failed', 'the job is recorded as failed');
    ok(length($job->{error} // ''), "with its reason: " . ($job->{error} // ''));
    ok(defined $job->{finished}, 'and a finish time');
    $t->finish;
}
done_testing;
