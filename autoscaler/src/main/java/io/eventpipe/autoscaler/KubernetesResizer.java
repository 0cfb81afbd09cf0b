package io.eventpipe.autoscaler;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.apps.StatefulSet;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Resizes the nodes' StatefulSet the way a Helm change with the chart's migrator hooks does:
 * <ol>
 *   <li>grow: raise the StatefulSet's {@code replicas}, wait until pods {@code NAME-from .. NAME-(to-1)} are Ready (a
 *       new node owns nothing until the migration moves its share), then migrate to {@code to} nodes;</li>
 *   <li>shrink: migrate to {@code to} nodes (the highest ordinals give their partitions away), check in the control
 *       store that ordinals {@code to ..} own nothing, and only then lower {@code replicas}. If any of them still owns
 *       a partition, the replicas stay as they are: Kubernetes never removes a pod that owns partitions.</li>
 * </ol>
 * Before either it checks that the StatefulSet has {@code from} replicas: someone else (a {@code helm upgrade}, an
 * operator) changed it, and the autoscaler waits for the next reading instead of fighting them.
 */
public final class KubernetesResizer implements Resizer {

  private static final Logger LOG = LoggerFactory.getLogger(KubernetesResizer.class);

  private final KubernetesClient client;
  private final String namespace;
  private final String statefulSet;
  private final Migration migration;
  private final Ownership ownership;
  private final Duration readyTimeout;
  private final Clock clock;

  public KubernetesResizer(KubernetesClient client, String namespace, String statefulSet, Migration migration,
      Ownership ownership, Duration readyTimeout, Clock clock) {
    this.client = client;
    this.namespace = namespace;
    this.statefulSet = statefulSet;
    this.migration = migration;
    this.ownership = ownership;
    this.readyTimeout = readyTimeout;
    this.clock = clock;
  }

  @Override
  public void resize(int from, int to) throws Exception {
    int replicas = replicas();
    if (to > from) {
      if (replicas < to) {
        if (replicas != from) {
          throw new ResizeException("StatefulSet " + statefulSet + " has " + replicas + " replicas, not the " + from
              + " the topology has: someone else is changing it; not growing");
        }
        setReplicas(to);
      }
      awaitReady(from, to);
      migration.migrate(to);
    } else {
      if (replicas != from && replicas != to) {
        throw new ResizeException("StatefulSet " + statefulSet + " has " + replicas + " replicas, not the " + from
            + " the topology has: someone else is changing it; not shrinking");
      }
      migration.migrate(to);
      for (int k = to; k < from; k++) {
        int owned = ownership.ownedBy(k);
        if (owned > 0) {
          throw new ResizeException("node " + k + " still owns " + owned + " partitions after the migration to " + to
              + " nodes: replicas stay at " + replicas);
        }
      }
      setReplicas(to);
    }
  }

  /** The StatefulSet's {@code spec.replicas}. */
  public int replicas() throws ResizeException {
    StatefulSet s = client.apps().statefulSets().inNamespace(namespace).withName(statefulSet).get();
    if (s == null) {
      throw new ResizeException("no StatefulSet " + statefulSet + " in namespace " + namespace);
    }
    Integer r = s.getSpec().getReplicas();
    return r == null ? 1 : r;
  }

  private void setReplicas(int to) {
    LOG.info("autoscaler: StatefulSet {}/{} replicas -> {}", namespace, statefulSet, to);
    client.apps().statefulSets().inNamespace(namespace).withName(statefulSet).edit(s -> {
      s.getSpec().setReplicas(to);
      return s;
    });
  }

  private void awaitReady(int from, int to) throws Exception {
    Instant deadline = clock.instant().plus(readyTimeout);
    for (int k = from; k < to; k++) {
      String pod = statefulSet + "-" + k;
      while (!ready(client.pods().inNamespace(namespace).withName(pod).get())) {
        if (clock.instant().isAfter(deadline)) {
          throw new ResizeException("pod " + pod + " was not Ready within " + readyTimeout.toSeconds() + " s; the replicas stay"
              + " raised (the new pod owns nothing) and the next grow waits for it");
        }
        Thread.sleep(500);
      }
      LOG.info("autoscaler: pod {} is ready", pod);
    }
  }

  private static boolean ready(Pod p) {
    return p != null && p.getStatus() != null && p.getStatus().getConditions() != null && p.getStatus().getConditions().stream()
        .anyMatch(c -> "Ready".equals(c.getType()) && "True".equals(c.getStatus()));
  }
}
