"""`python -m core.bench.mot`: bad options are one error line."""

import pytest

from core.bench.mot import main
from core.errors import UserError


def test_bad_options_are_one_error_line(capsys, shared_data):
    with pytest.raises(UserError, match="--fps"):
        main(["--fps", "0", "--data", str(shared_data / "mot15")])
    with pytest.raises(UserError, match="--seed"):
        main(["--seed", "a", "--data", str(shared_data / "mot15")])
