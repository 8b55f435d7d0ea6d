/// A binary min-heap: `pop` returns the smallest element by `<`.
struct MinHeap<Element: Comparable> {
    private(set) var storage: [Element] = []

    init() {}

    init(_ elements: [Element]) {
        storage = elements
        guard storage.count > 1 else { return }
        for i in stride(from: storage.count / 2 - 1, through: 0, by: -1) {
            siftDown(i)
        }
    }

    var isEmpty: Bool { storage.isEmpty }
    var count: Int { storage.count }

    mutating func push(_ element: Element) {
        storage.append(element)
        var child = storage.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            if !(storage[child] < storage[parent]) { break }
            storage.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> Element? {
        guard let last = storage.popLast() else { return nil }
        guard !storage.isEmpty else { return last }
        let top = storage[0]
        storage[0] = last
        siftDown(0)
        return top
    }

    private mutating func siftDown(_ start: Int) {
        var parent = start
        let n = storage.count
        while true {
            let left = 2 * parent + 1
            if left >= n { return }
            var best = left
            let right = left + 1
            if right < n && storage[right] < storage[left] { best = right }
            if !(storage[best] < storage[parent]) { return }
            storage.swapAt(best, parent)
            parent = best
        }
    }
}
