import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;

import javax.management.MalformedObjectNameException;
import javax.management.ObjectName;

/**
 * What javax.management.ObjectName itself says, so the tests can hold the Python parser of
 * kafka_monitor.jmx.object_name to the JDK's rules.
 *
 * Reads lines on stdin, one answer line per input line:
 *   parse<TAB><name>              -> "ok <isPattern>" | "error <message>"
 *   apply<TAB><pattern><TAB><name> -> "true" | "false" | "error <message>"
 */
public final class ObjectNameCheck {
    public static void main(String[] args) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            String[] f = line.split("\t", -1);
            try {
                if (f[0].equals("parse")) {
                    ObjectName name = new ObjectName(unescape(f[1]));
                    System.out.println("ok " + name.isPattern());
                } else {
                    ObjectName pattern = new ObjectName(unescape(f[1]));
                    ObjectName name = new ObjectName(unescape(f[2]));
                    System.out.println(pattern.apply(name));
                }
            } catch (MalformedObjectNameException | NullPointerException e) {
                System.out.println("error " + String.valueOf(e.getMessage()).replace('\n', ' '));
            }
        }
    }

    /** The tests send a newline inside a name as the two characters \u0001 n. */
    static String unescape(String s) {
        return s.replace("\u0001n", "\n");
    }
}
