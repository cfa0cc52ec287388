// A doubly linked list with value semantics (copy-on-write).

public struct LinkedList<Element> {
    fileprivate final class Node {
        var value: Element
        var next: Node?
        weak var previous: Node?

        init(_ value: Element) {
            self.value = value
        }
    }

    fileprivate final class Storage {
        var head: Node?
        var tail: Node?
        var count = 0

        func copy() -> Storage {
            let clone = Storage()
            var node = head
            while let current = node {
                clone.append(current.value)
                node = current.next
            }
            return clone
        }

        func append(_ value: Element) {
            let node = Node(value)
            if let tail = tail {
                tail.next = node
                node.previous = tail
            } else {
                head = node
            }
            tail = node
            count += 1
        }
    }

    private var storage = Storage()

    public init() {}

    public init<S: Sequence>(_ elements: S) where S.Element == Element {
        for element in elements {
            append(element)
        }
    }

    private mutating func makeUnique() {
        if !isKnownUniquelyReferenced(&storage) {
            storage = storage.copy()
        }
    }

    public var count: Int { storage.count }
    public var first: Element? { storage.head?.value }
    public var last: Element? { storage.tail?.value }

    public mutating func append(_ value: Element) {
        makeUnique()
        storage.append(value)
    }

    public mutating func prepend(_ value: Element) {
        makeUnique()
        let node = Node(value)
        node.next = storage.head
        storage.head?.previous = node
        storage.head = node
        if storage.tail == nil {
            storage.tail = node
        }
        storage.count += 1
    }

    @discardableResult
    public mutating func removeFirst() -> Element? {
        makeUnique()
        guard let head = storage.head else { return nil }
        storage.head = head.next
        storage.head?.previous = nil
        if storage.head == nil {
            storage.tail = nil
        }
        storage.count -= 1
        return head.value
    }

    @discardableResult
    public mutating func removeLast() -> Element? {
        makeUnique()
        guard let tail = storage.tail else { return nil }
        storage.tail = tail.previous
        storage.tail?.next = nil
        if storage.tail == nil {
            storage.head = nil
        }
        storage.count -= 1
        return tail.value
    }

    public mutating func reverse() {
        makeUnique()
        var node = storage.head
        swap(&storage.head, &storage.tail)
        while let current = node {
            node = current.next
            current.next = current.previous
            current.previous = node
        }
    }
}

extension LinkedList: Sequence {
    public struct Iterator: IteratorProtocol {
        fileprivate var node: Node?

        public mutating func next() -> Element? {
            defer { node = node?.next }
            return node?.value
        }
    }

    public func makeIterator() -> Iterator {
        Iterator(node: storage.head)
    }
}

extension LinkedList: ExpressibleByArrayLiteral {
    public init(arrayLiteral elements: Element...) {
        self.init(elements)
    }
}

extension LinkedList: CustomStringConvertible {
    public var description: String {
        "[" + map { "\($0)" }.joined(separator: " <-> ") + "]"
    }
}

extension LinkedList: Equatable where Element: Equatable {
    public static func == (lhs: LinkedList, rhs: LinkedList) -> Bool {
        lhs.count == rhs.count && lhs.elementsEqual(rhs)
    }
}
