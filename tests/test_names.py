import pytest

from scanner.names import ecosystem_family, normalize_package_name


@pytest.mark.parametrize(
    ("ecosystem", "name", "expected"),
    [
        ("PyPI", "Pillow", "pillow"),
        ("PyPI", "zope.interface", "zope-interface"),
        ("PyPI", "Foo__Bar-.baz", "foo-bar-baz"),
        ("Go", "github.com/BurntSushi/toml", "github.com/BurntSushi/toml"),
        ("Red Hat", "NetworkManager", "NetworkManager"),
        ("Maven", "org.apache.logging.log4j:log4j-core", "org.apache.logging.log4j:log4j-core"),
        ("npm", "@Babel/Core", "@babel/core"),
        ("Debian:12", "OpenSSL", "openssl"),
    ],
)
def test_normalize(ecosystem: str, name: str, expected: str) -> None:
    assert normalize_package_name(ecosystem, name) == expected


def test_family() -> None:
    assert ecosystem_family("Ubuntu:22.04:LTS") == "Ubuntu"
    assert ecosystem_family("PyPI") == "PyPI"
