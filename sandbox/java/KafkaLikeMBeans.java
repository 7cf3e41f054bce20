import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryUsage;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import javax.management.Attribute;
import javax.management.AttributeList;
import javax.management.AttributeNotFoundException;
import javax.management.DynamicMBean;
import javax.management.MBeanAttributeInfo;
import javax.management.MBeanInfo;
import javax.management.MBeanServer;
import javax.management.ObjectName;
import javax.management.openmbean.CompositeData;
import javax.management.openmbean.CompositeDataSupport;
import javax.management.openmbean.CompositeType;
import javax.management.openmbean.OpenType;
import javax.management.openmbean.SimpleType;

/**
 * The test bed's JMX target: a JVM whose MBeans are named like Kafka's (and ZooKeeper's,
 * MirrorMaker's, Spark's), with values a test sets through a line protocol on a loopback
 * control port, so it can read them back through JMX and compare.
 *
 * Usage: java KafkaLikeMBeans <control-port>   (remote JMX comes from -Dcom.sun.management.*)
 *
 * Commands (fields separated by TAB; one reply line, "ok ..." or "error <why>"):
 *   ping
 *   register  <objectName> <attr>=<value>...   create (or replace) a bean with these attributes
 *   set       <objectName> <attr>=<value>...   change (or add) attributes of a bean
 *   composite <objectName> <attr> <key>=<value>...  set a CompositeData attribute
 *   unregister <objectName>
 *   delay     <millis>                          every attribute read of our beans sleeps this long
 *   retain    <bytes>                           keep a byte array of this size reachable
 *   release                                     drop the retained arrays
 *   heap                                        "ok init=.. used=.. committed=.. max=.."
 * A value is a long ("42"), a double ("0.5", "1e3", "NaN"), "true"/"false", or a string ("s:TEXT").
 */
public final class KafkaLikeMBeans {

    static final MBeanServer SERVER = ManagementFactory.getPlatformMBeanServer();
    static final Map<ObjectName, SettableBean> BEANS = new ConcurrentHashMap<>();
    static final List<byte[]> RETAINED = new ArrayList<>();
    static volatile long readDelayMillis = 0;

    public static void main(String[] args) throws Exception {
        int port = Integer.parseInt(args[0]);
        ServerSocket control = new ServerSocket(port, 50, InetAddress.getByName("127.0.0.1"));
        System.out.println("control port " + port + " ready");
        System.out.flush();
        while (true) {
            Socket client = control.accept();
            Thread t = new Thread(() -> serve(client), "control-" + client.getPort());
            t.setDaemon(true);
            t.start();
        }
    }

    static void serve(Socket client) {
        try (Socket s = client;
             BufferedReader in = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.UTF_8));
             PrintWriter out = new PrintWriter(new OutputStreamWriter(s.getOutputStream(), StandardCharsets.UTF_8), true)) {
            String line;
            while ((line = in.readLine()) != null) {
                String reply;
                try {
                    reply = handle(line.split("\t", -1));
                } catch (Exception e) {
                    reply = "error " + e.getClass().getSimpleName() + ": " + String.valueOf(e.getMessage()).replace('\n', ' ');
                }
                out.println(reply);
            }
        } catch (IOException ignored) {
            // the test closed its connection
        }
    }

    static String handle(String[] f) throws Exception {
        switch (f[0]) {
            case "ping":
                return "ok";
            case "register": {
                ObjectName name = new ObjectName(f[1]);
                SettableBean bean = new SettableBean();
                putValues(bean, f, 2);
                synchronized (BEANS) {
                    if (SERVER.isRegistered(name)) {
                        SERVER.unregisterMBean(name);
                    }
                    SERVER.registerMBean(bean, name);
                    BEANS.put(name, bean);
                }
                return "ok";
            }
            case "set": {
                SettableBean bean = bean(f[1]);
                putValues(bean, f, 2);
                return "ok";
            }
            case "composite": {
                SettableBean bean = bean(f[1]);
                Map<String, Object> items = new LinkedHashMap<>();
                for (int i = 3; i < f.length; i++) {
                    String[] kv = f[i].split("=", 2);
                    items.put(kv[0], parseValue(kv[1]));
                }
                bean.put(f[2], composite(f[2], items));
                return "ok";
            }
            case "unregister": {
                ObjectName name = new ObjectName(f[1]);
                synchronized (BEANS) {
                    BEANS.remove(name);
                    if (SERVER.isRegistered(name)) {
                        SERVER.unregisterMBean(name);
                    }
                }
                return "ok";
            }
            case "delay":
                readDelayMillis = Long.parseLong(f[1]);
                return "ok";
            case "retain":
                synchronized (RETAINED) {
                    byte[] block = new byte[Integer.parseInt(f[1])];
                    for (int i = 0; i < block.length; i += 4096) {
                        block[i] = 1;  // touch every page
                    }
                    RETAINED.add(block);
                }
                return "ok";
            case "release":
                synchronized (RETAINED) {
                    RETAINED.clear();
                }
                return "ok";
            case "heap": {
                MemoryUsage heap = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage();
                return "ok init=" + heap.getInit() + " used=" + heap.getUsed() + " committed="
                        + heap.getCommitted() + " max=" + heap.getMax();
            }
            default:
                return "error unknown command " + f[0];
        }
    }

    static SettableBean bean(String name) throws Exception {
        SettableBean bean = BEANS.get(new ObjectName(name));
        if (bean == null) {
            throw new IllegalArgumentException("no bean " + name + " registered here");
        }
        return bean;
    }

    static void putValues(SettableBean bean, String[] f, int from) {
        for (int i = from; i < f.length; i++) {
            if (f[i].isEmpty()) {
                continue;
            }
            String[] kv = f[i].split("=", 2);
            if (kv.length != 2) {
                throw new IllegalArgumentException("expected attr=value, got " + f[i]);
            }
            bean.put(kv[0], parseValue(kv[1]));
        }
    }

    static Object parseValue(String text) {
        if (text.startsWith("s:")) {
            return text.substring(2);
        }
        if (text.equals("true") || text.equals("false")) {
            return Boolean.valueOf(text);
        }
        try {
            return Long.valueOf(text);
        } catch (NumberFormatException notLong) {
            return Double.valueOf(text);
        }
    }

    static CompositeData composite(String typeName, Map<String, Object> items) throws Exception {
        String[] keys = items.keySet().toArray(new String[0]);
        OpenType<?>[] types = new OpenType<?>[keys.length];
        Object[] values = new Object[keys.length];
        for (int i = 0; i < keys.length; i++) {
            values[i] = items.get(keys[i]);
            types[i] = values[i] instanceof Long ? SimpleType.LONG
                    : values[i] instanceof Double ? SimpleType.DOUBLE
                    : values[i] instanceof Boolean ? SimpleType.BOOLEAN : SimpleType.STRING;
        }
        CompositeType type = new CompositeType(typeName, typeName, keys, keys, types);
        return new CompositeDataSupport(type, keys, values);
    }

    /** A bean whose attributes are whatever the test last set (names may hold '-', like Kafka's). */
    public static final class SettableBean implements DynamicMBean {
        private final Map<String, Object> values = new ConcurrentHashMap<>();
        private final Map<String, Integer> order = new ConcurrentHashMap<>();

        void put(String attribute, Object value) {
            order.putIfAbsent(attribute, order.size());
            values.put(attribute, value);
        }

        @Override
        public Object getAttribute(String attribute) throws AttributeNotFoundException {
            long delay = readDelayMillis;
            if (delay > 0) {
                try {
                    Thread.sleep(delay);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            Object value = values.get(attribute);
            if (value == null) {
                throw new AttributeNotFoundException(attribute);
            }
            return value;
        }

        @Override
        public void setAttribute(Attribute attribute) {
            put(attribute.getName(), attribute.getValue());
        }

        @Override
        public AttributeList getAttributes(String[] attributes) {
            AttributeList list = new AttributeList();
            for (String name : attributes) {
                Object value = values.get(name);
                if (value != null) {
                    list.add(new Attribute(name, value));
                }
            }
            return list;
        }

        @Override
        public AttributeList setAttributes(AttributeList attributes) {
            for (Attribute a : attributes.asList()) {
                setAttribute(a);
            }
            return attributes;
        }

        @Override
        public Object invoke(String actionName, Object[] params, String[] signature) {
            throw new UnsupportedOperationException(actionName);
        }

        @Override
        public MBeanInfo getMBeanInfo() {
            String[] names = order.keySet().toArray(new String[0]);
            java.util.Arrays.sort(names, (a, b) -> Integer.compare(order.get(a), order.get(b)));
            MBeanAttributeInfo[] infos = new MBeanAttributeInfo[names.length];
            for (int i = 0; i < names.length; i++) {
                Object v = values.get(names[i]);
                String type = v instanceof CompositeData ? CompositeData.class.getName() : v.getClass().getName();
                infos[i] = new MBeanAttributeInfo(names[i], type, names[i], true, false, false);
            }
            return new MBeanInfo(SettableBean.class.getName(), "settable test bean", infos, null, null, null);
        }
    }
}
