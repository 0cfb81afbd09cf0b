package io.eventpipe.testing;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * HTTP/1.1 over a plain socket, for tests of what a server does to a connection (deadlines, caps) that an HTTP client
 * hides: one request and its answer on a kept-alive socket, and waiting for the server to close it.
 */
public final class RawHttp {

  private static final Pattern CONTENT_LENGTH = Pattern.compile("(?i)content-length: *(\\d+)");

  private RawHttp() {}

  /** A socket to 127.0.0.1:{@code port} whose reads give up after 30 s (a test waiting for a close fails then). */
  public static Socket connect(int port) throws IOException {
    Socket s = new Socket("127.0.0.1", port);
    s.setSoTimeout(30_000);
    return s;
  }

  /** Sends {@code request} (with its blank line and body) and reads one answer with a Content-Length body. */
  public static String exchange(Socket s, String request) throws IOException {
    s.getOutputStream().write(request.getBytes(StandardCharsets.ISO_8859_1));
    s.getOutputStream().flush();
    return readResponse(s.getInputStream());
  }

  /** Reads one HTTP/1.1 answer with a Content-Length body (or none), or what came before the end of the stream. */
  public static String readResponse(InputStream in) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    int headerEnd = -1;
    int contentLength = 0;
    while (headerEnd < 0 || out.size() < headerEnd + contentLength) {
      int b = in.read();
      if (b < 0) {
        break;
      }
      out.write(b);
      if (headerEnd < 0 && out.size() >= 4 && out.toString(StandardCharsets.ISO_8859_1).endsWith("\r\n\r\n")) {
        headerEnd = out.size();
        Matcher m = CONTENT_LENGTH.matcher(out.toString(StandardCharsets.ISO_8859_1));
        contentLength = m.find() ? Integer.parseInt(m.group(1)) : 0;
      }
    }
    return out.toString(StandardCharsets.ISO_8859_1);
  }

  /**
   * Waits until the server closes the connection (end of stream, or a reset); fails if it answers a request with 200
   * meanwhile. A server that never closes makes the read time out ({@link java.net.SocketTimeoutException}).
   */
  public static void awaitClosedByServer(Socket s) throws IOException {
    try {
      byte[] buf = new byte[8192];
      int n;
      while ((n = s.getInputStream().read(buf)) >= 0) {
        String got = new String(buf, 0, n, StandardCharsets.ISO_8859_1);
        if (got.startsWith("HTTP/1.1 200")) {
          throw new AssertionError("the connection was served instead of closed: " + got);
        }
      }
    } catch (SocketException reset) {
      // closed with a reset: closed too
    }
  }
}
