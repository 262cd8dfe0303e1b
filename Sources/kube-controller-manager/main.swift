import Foundation
import KubeAPI
import KubeControllers

// kube-controller-manager: the ReplicaSet, Deployment, DaemonSet, StatefulSet, garbage-collector,
// namespace, endpoints, node-lifecycle and horizontal-pod-autoscaler controllers, each a watcher of the store (directly on
// etcd, through ObjectStore).

let flags = ComponentFlags(component: "kube-controller-manager", known: [
    "--etcd-servers", "--node-monitor-period", "--node-monitor-grace-period", "--pod-eviction-timeout",
    "--horizontal-pod-autoscaler-sync-period", "--horizontal-pod-autoscaler-downscale-stabilization",
], usage: """
    usage: kube-controller-manager [--etcd-servers URLS] [--node-monitor-period 5s]
                                   [--node-monitor-grace-period 40s] [--pod-eviction-timeout 5m0s]
                                   [--horizontal-pod-autoscaler-sync-period 15s]
                                   [--horizontal-pod-autoscaler-downscale-stabilization 5m0s]

      --etcd-servers               comma-separated etcd client URLs (default http://127.0.0.1:2379)
      --node-monitor-period        how often nodes' leases are checked
      --node-monitor-grace-period  how long a node may not renew its lease before it is unreachable
      --pod-eviction-timeout       how long pods stay on an unreachable node before they are evicted
      --horizontal-pod-autoscaler-sync-period               how often autoscalers are evaluated
      --horizontal-pod-autoscaler-downscale-stabilization   how long a lower recommendation must hold

    Autoscalers read each pod's CPU use from its metrics.kube-swift.io/cpu-usage annotation ("250m").
    """)
var nodeLifecycle = NodeLifecycleOptions()
nodeLifecycle.monitorPeriod = flags.duration("--node-monitor-period", default: nodeLifecycle.monitorPeriod)
nodeLifecycle.gracePeriod = flags.duration("--node-monitor-grace-period", default: nodeLifecycle.gracePeriod)
nodeLifecycle.podEvictionTimeout = flags.duration("--pod-eviction-timeout", default: nodeLifecycle.podEvictionTimeout)
var autoscaling = AutoscalerOptions()
autoscaling.syncPeriod = flags.duration("--horizontal-pod-autoscaler-sync-period", default: autoscaling.syncPeriod)
autoscaling.downscaleStabilization = flags.duration("--horizontal-pod-autoscaler-downscale-stabilization",
                                                    default: autoscaling.downscaleStabilization)
FileHandle.standardOutput.write(Data("kube-controller-manager: running\n".utf8))
await ControllerManager(store: flags.store(), nodeLifecycle: nodeLifecycle, autoscaling: autoscaling).run()
