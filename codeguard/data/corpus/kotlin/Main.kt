package com.example.markdown

import java.io.File
import java.io.IOException
import kotlin.system.exitProcess

enum class OutputMode(val flag: String) {
    HTML("--html"),
    OUTLINE("--outline"),
    STATS("--stats");

    companion object {
        fun fromFlag(flag: String): OutputMode? = values().firstOrNull { it.flag == flag }
    }
}

data class Options(
    val mode: OutputMode = OutputMode.HTML,
    val input: File? = null,
    val output: File? = null,
)

interface Sink : AutoCloseable {
    fun write(text: String)
}

class FileSink(private val file: File) : Sink {
    private val writer = file.bufferedWriter()
    override fun write(text: String) = writer.write(text)
    override fun close() = writer.close()
}

object StdoutSink : Sink {
    override fun write(text: String) = print(text)
    override fun close() {}
}

fun parseArgs(args: Array<String>): Options {
    var options = Options()
    val it = args.iterator()
    while (it.hasNext()) {
        val arg = it.next()
        options = when {
            arg == "-o" || arg == "--output" -> {
                require(it.hasNext()) { "$arg needs a file name" }
                options.copy(output = File(it.next()))
            }
            arg.startsWith("--") -> {
                val mode = OutputMode.fromFlag(arg) ?: throw IllegalArgumentException("unknown flag $arg")
                options.copy(mode = mode)
            }
            options.input == null -> options.copy(input = File(arg))
            else -> throw IllegalArgumentException("unexpected argument $arg")
        }
    }
    return options
}

fun outline(blocks: List<Block>): String = blocks
    .filterIsInstance<Block.Heading>()
    .joinToString("\n", postfix = "\n") { "  ".repeat(it.level - 1) + "- " + it.text }

fun stats(blocks: List<Block>): String {
    val counts = blocks.groupingBy { it::class.simpleName ?: "?" }.eachCount()
    val words = blocks.sumOf { block ->
        when (block) {
            is Block.Paragraph -> block.lines.sumOf { line -> line.split(Regex("\\s+")).count { it.isNotEmpty() } }
            is Block.ListBlock -> block.items.size
            else -> 0
        }
    }
    return counts.entries.sortedByDescending { it.value }
        .joinToString("\n", postfix = "\nwords: $words\n") { (name, n) -> "%-10s %3d".format(name, n) }
}

fun main(args: Array<String>) {
    val options = try {
        parseArgs(args)
    } catch (e: IllegalArgumentException) {
        System.err.println("error: ${e.message}")
        System.err.println("usage: md [--html|--outline|--stats] [-o FILE] [INPUT]")
        exitProcess(2)
    }

    val source = try {
        options.input?.readText() ?: generateSequence(::readLine).joinToString("\n")
    } catch (e: IOException) {
        System.err.println("cannot read ${options.input}: ${e.message}")
        exitProcess(1)
    }

    val blocks = try {
        parseBlocks(source)
    } catch (e: MarkdownException) {
        System.err.println("${options.input?.name ?: "<stdin>"}:${e.line}: ${e.message}")
        exitProcess(1)
    }

    val sink: Sink = options.output?.let(::FileSink) ?: StdoutSink
    sink.use { out ->
        when (options.mode) {
            OutputMode.HTML -> out.write(blocks.joinToString("\n", postfix = "\n") { it.toHtml() })
            OutputMode.OUTLINE -> out.write(outline(blocks))
            OutputMode.STATS -> out.write(stats(blocks))
        }
    }
}
