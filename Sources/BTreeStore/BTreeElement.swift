import CPrefetch

/// A key or value that B+-tree nodes store in place, and what copying one costs.
///
/// A copy-on-write copy of a node copies every key and value in it, and copying one that holds
/// a heap buffer retains that buffer: an atomic write to its header, usually a cache miss of its
/// own, and on x86 one that the next retain waits for. So a node first starts every such load at
/// once (`prefetchReferenceCounts`), and the retains that follow find their lines in cache.
package protocol BTreeElement {
    /// Starts loading, for writing, the reference counts that copying `element` changes.
    static func prefetchReferenceCounts(of element: UnsafePointer<Self>)
}

extension BTreeElement {
    /// Plain values hold no references.
    @inline(__always)
    package static func prefetchReferenceCounts(of element: UnsafePointer<Self>) {}
}

/// Starts loading the reference count of the object whose address is stored at `slot`.
@inline(__always)
func prefetchReferenceCount(ofObjectAt slot: UnsafeRawPointer) {
    cprefetch_write(slot.load(as: UnsafeRawPointer.self) + MemoryLayout<HeapObjectPrefix>.offset(of: \.referenceCounts)!)
}

extension Array: BTreeElement where Element == UInt8 {
    /// An array is one reference to its storage object (the empty array's is a shared one).
    @inline(__always)
    package static func prefetchReferenceCounts(of element: UnsafePointer<[UInt8]>) {
        prefetchReferenceCount(ofObjectAt: UnsafeRawPointer(element))
    }
}

extension Int: BTreeElement {}

extension KeyIndex: BTreeElement {
    @inline(__always)
    static func prefetchReferenceCounts(of element: UnsafePointer<KeyIndex>) {
        prefetchReferenceCount(ofObjectAt: UnsafeRawPointer(element) + MemoryLayout<KeyIndex>.offset(of: \.value)!)
    }
}

extension RevisionRecord: BTreeElement {
    @inline(__always)
    static func prefetchReferenceCounts(of element: UnsafePointer<RevisionRecord>) {
        let record = UnsafeRawPointer(element)
        prefetchReferenceCount(ofObjectAt: record + MemoryLayout<RevisionRecord>.offset(of: \.key)!)
        prefetchReferenceCount(ofObjectAt: record + MemoryLayout<RevisionRecord>.offset(of: \.value)!)
    }
}
