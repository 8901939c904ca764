// Kafka's Java producer, asked where each key goes: reads keys (one per line,
// UTF-8) on stdin, prints "<murmur2> <partition>" per key for argv[0] partitions.
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import org.apache.kafka.clients.producer.internals.BuiltInPartitioner;
import org.apache.kafka.common.utils.Utils;

public class Partitions {
    public static void main(String[] args) throws Exception {
        int partitions = Integer.parseInt(args[0]);
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            byte[] key = line.getBytes(StandardCharsets.UTF_8);
            System.out.println(Utils.murmur2(key) + " " + BuiltInPartitioner.partitionForKey(key, partitions));
        }
    }
}
