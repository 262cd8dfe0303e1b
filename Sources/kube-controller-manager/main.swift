import Foundation
import KubeAPI
import KubeControllers

// kube-controller-manager: the ReplicaSet, Deployment, garbage-collector, namespace and
// endpoints controllers, each a watcher of the store (directly on etcd, through ObjectStore).

let flags = ComponentFlags(component: "kube-controller-manager", known: ["--etcd-servers"], usage: """
    usage: kube-controller-manager [--etcd-servers URLS]

      --etcd-servers  comma-separated etcd client URLs (default http://127.0.0.1:2379)
    """)
FileHandle.standardOutput.write(Data("kube-controller-manager: running\n".utf8))
await ControllerManager(store: flags.store()).run()
