import Foundation
import KubeAPI
import KubeControllers

// kube-controller-manager: the ReplicaSet, Deployment, DaemonSet, StatefulSet, garbage-collector,
// namespace, endpoints and node-lifecycle controllers, each a watcher of the store (directly on
// etcd, through ObjectStore).

let flags = ComponentFlags(component: "kube-controller-manager", known: [
    "--etcd-servers", "--node-monitor-period", "--node-monitor-grace-period", "--pod-eviction-timeout",
], usage: """
    usage: kube-controller-manager [--etcd-servers URLS] [--node-monitor-period 5s]
                                   [--node-monitor-grace-period 40s] [--pod-eviction-timeout 5m0s]

      --etcd-servers               comma-separated etcd client URLs (default http://127.0.0.1:2379)
      --node-monitor-period        how often nodes' leases are checked
      --node-monitor-grace-period  how long a node may not renew its lease before it is unreachable
      --pod-eviction-timeout       how long pods stay on an unreachable node before they are evicted
    """)
var nodeLifecycle = NodeLifecycleOptions()
nodeLifecycle.monitorPeriod = flags.duration("--node-monitor-period", default: nodeLifecycle.monitorPeriod)
nodeLifecycle.gracePeriod = flags.duration("--node-monitor-grace-period", default: nodeLifecycle.gracePeriod)
nodeLifecycle.podEvictionTimeout = flags.duration("--pod-eviction-timeout", default: nodeLifecycle.podEvictionTimeout)
FileHandle.standardOutput.write(Data("kube-controller-manager: running\n".utf8))
await ControllerManager(store: flags.store(), nodeLifecycle: nodeLifecycle).run()
