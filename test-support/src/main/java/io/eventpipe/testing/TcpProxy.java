package io.eventpipe.testing;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A loopback TCP proxy for fault injection: forwards to a target and can cut every open connection at once
 * (mid-transaction, mid-batch) or refuse new ones, like a PostgreSQL or a destination that goes away, or
 * {@linkplain #freeze freeze} (a network partition: nothing passes either way, nothing is closed or reset, so both
 * sides believe their connections alive until it thaws).
 */
public final class TcpProxy implements AutoCloseable {

  private final ServerSocket server;
  private final String targetHost;
  private final int targetPort;
  private final Set<Socket> sockets = ConcurrentHashMap.newKeySet();
  private volatile boolean refusing;
  private volatile boolean frozen;
  private final Object thaw = new Object();

  public TcpProxy(String targetHost, int targetPort) throws IOException {
    this.targetHost = targetHost;
    this.targetPort = targetPort;
    this.server = new ServerSocket();
    server.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
    Thread acceptor = new Thread(this::acceptLoop, "tcp-proxy-accept-" + port());
    acceptor.setDaemon(true);
    acceptor.start();
  }

  public int port() {
    return server.getLocalPort();
  }

  public String host() {
    return server.getInetAddress().getHostAddress();
  }

  /** Closes every open connection, both sides. */
  public void cutAll() {
    for (Socket s : sockets) {
      try {
        s.close();
      } catch (IOException ignored) {
        // already closed
      }
    }
    sockets.clear();
  }

  /**
   * While true, nothing passes: bytes read from either side, the end of a stream and new connections all wait, unsent
   * and unanswered, until it is false again (then they go on in order). Like a partition, no side is told.
   */
  public void freeze(boolean freezing) {
    synchronized (thaw) {
      frozen = freezing;
      thaw.notifyAll();
    }
  }

  private void awaitThaw() throws IOException {
    synchronized (thaw) {
      while (frozen) {
        if (server.isClosed()) {
          throw new IOException("proxy closed");
        }
        try {
          thaw.wait(200);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new IOException("interrupted");
        }
      }
    }
  }

  /** While true, new connections are accepted and closed at once. */
  public void refuse(boolean refusing) {
    this.refusing = refusing;
  }

  private void acceptLoop() {
    while (!server.isClosed()) {
      try {
        Socket client = server.accept();
        awaitThaw();
        if (refusing) {
          client.close();
          continue;
        }
        Socket upstream = new Socket(targetHost, targetPort);
        client.setTcpNoDelay(true);
        upstream.setTcpNoDelay(true);
        sockets.add(client);
        sockets.add(upstream);
        pump(client, upstream);
        pump(upstream, client);
      } catch (IOException e) {
        if (server.isClosed()) {
          return;
        }
      }
    }
  }

  private void pump(Socket from, Socket to) {
    Thread t = new Thread(() -> {
      byte[] buf = new byte[65536];
      try (InputStream in = from.getInputStream(); OutputStream out = to.getOutputStream()) {
        int n;
        while ((n = in.read(buf)) >= 0) {
          awaitThaw();
          out.write(buf, 0, n);
        }
        awaitThaw(); // the end of the stream too: a frozen link tells nobody it closed
      } catch (IOException ignored) {
        // connection cut
      } finally {
        try {
          from.close();
          to.close();
        } catch (IOException ignored) {
          // closing
        }
        sockets.remove(from);
        sockets.remove(to);
      }
    }, "tcp-proxy-pump");
    t.setDaemon(true);
    t.start();
  }

  @Override
  public void close() throws IOException {
    server.close();
    cutAll();
  }
}
