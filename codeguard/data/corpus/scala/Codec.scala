package example.json

import Json._

/** Type classes for converting between Scala values and Json. */
trait Encoder[A] {
  def encode(value: A): Json
}

trait Decoder[A] {
  def decode(json: Json): Either[String, A]
}

object Encoder {
  def apply[A](implicit enc: Encoder[A]): Encoder[A] = enc

  implicit val intEncoder: Encoder[Int] = (v: Int) => JNumber(BigDecimal(v))
  implicit val stringEncoder: Encoder[String] = (v: String) => JString(v)
  implicit val boolEncoder: Encoder[Boolean] = (v: Boolean) => JBool(v)

  implicit def listEncoder[A](implicit inner: Encoder[A]): Encoder[List[A]] =
    (vs: List[A]) => JArray(vs.map(inner.encode).toVector)

  implicit def optionEncoder[A](implicit inner: Encoder[A]): Encoder[Option[A]] = {
    case Some(v) => inner.encode(v)
    case None    => JNull
  }
}

object Decoder {
  def apply[A](implicit dec: Decoder[A]): Decoder[A] = dec

  implicit val intDecoder: Decoder[Int] = {
    case JNumber(n) if n.isValidInt => Right(n.toInt)
    case other                      => Left(s"expected int, got ${other.render}")
  }

  implicit val stringDecoder: Decoder[String] = {
    case JString(s) => Right(s)
    case other      => Left(s"expected string, got ${other.render}")
  }

  implicit def listDecoder[A](implicit inner: Decoder[A]): Decoder[List[A]] = {
    case JArray(items) =>
      items.foldRight[Either[String, List[A]]](Right(Nil)) { (item, acc) =>
        for {
          tail <- acc
          head <- inner.decode(item)
        } yield head :: tail
      }
    case other => Left(s"expected array, got ${other.render}")
  }
}

object syntax {
  implicit class EncoderOps[A](private val value: A) extends AnyVal {
    def toJson(implicit enc: Encoder[A]): Json = enc.encode(value)
  }

  implicit class DecoderOps(private val json: Json) extends AnyVal {
    def as[A](implicit dec: Decoder[A]): Either[String, A] = dec.decode(json)

    def field[A: Decoder](name: String): Either[String, A] = json match {
      case obj: JObject => obj.get(name).toRight(s"missing field '$name'").flatMap(Decoder[A].decode)
      case _            => Left(s"cannot read field '$name' of a non-object")
    }
  }
}

final case class User(name: String, age: Int, emails: List[String])

object User {
  import syntax._

  implicit val encoder: Encoder[User] = (u: User) =>
    JObject(List("name" -> u.name.toJson, "age" -> u.age.toJson, "emails" -> u.emails.toJson))

  implicit val decoder: Decoder[User] = (json: Json) =>
    for {
      name   <- json.field[String]("name")
      age    <- json.field[Int]("age")
      emails <- json.field[List[String]]("emails")
      _      <- if (age >= 0) Right(()) else Left("age must not be negative")
    } yield User(name, age, emails)
}

object Demo extends App {
  import syntax._

  val input = """{"name": "Grace", "age": 85, "emails": ["grace@example.com"]}"""

  Json.parse(input) match {
    case Left(err) =>
      Console.err.println(s"invalid JSON: ${err.getMessage}")
      sys.exit(1)
    case Right(json) =>
      json.as[User] match {
        case Right(user) =>
          println(s"decoded $user")
          println(user.copy(age = user.age + 1).toJson.render)
        case Left(problem) =>
          Console.err.println(s"not a user: $problem")
      }
  }
}
