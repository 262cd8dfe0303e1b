import Foundation
import KubeAPI
import KubeScheduler

// kube-scheduler: binds pending pods to nodes, watching the store directly on etcd.

let flags = ComponentFlags(component: "kube-scheduler", known: ["--etcd-servers"], usage: """
    usage: kube-scheduler [--etcd-servers URLS]

      --etcd-servers  comma-separated etcd client URLs (default http://127.0.0.1:2379)
    """)
FileHandle.standardOutput.write(Data("kube-scheduler: running\n".utf8))
await Scheduler(store: flags.store()).run()
